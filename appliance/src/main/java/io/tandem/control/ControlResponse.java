package io.tandem.control;

/**
 * The answer on the control socket, one line of JSON: {@code ok} and the {@code result}, or
 * not ok and an {@code error} an operator can read.
 */
public record ControlResponse(boolean ok, String error, Object result) {
    public static ControlResponse of(Object result) {
        return new ControlResponse(true, null, result);
    }

    public static ControlResponse error(String message) {
        return new ControlResponse(false, message, null);
    }
}
