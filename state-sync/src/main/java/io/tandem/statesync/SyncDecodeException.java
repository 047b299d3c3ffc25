package io.tandem.statesync;

/** Bytes that are not a valid sync message; the message says what is wrong with them. */
public final class SyncDecodeException extends Exception {
    public SyncDecodeException(String message) {
        super(message);
    }
}
