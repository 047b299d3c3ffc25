package io.tandem.os;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs {@code ip} and friends; a failure names the command, its exit status and what it printed. */
public class CommandRunner {
    /** What a command did. */
    public record Result(int exitCode, String output) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    public Result run(List<String> command) throws SetupException {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            process.getOutputStream().close();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new SetupException(String.join(" ", command) + ": no answer within 10 s");
            }
            return new Result(process.exitValue(), output);
        } catch (IOException e) {
            throw new SetupException(String.join(" ", command) + ": cannot run: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SetupException(String.join(" ", command) + ": interrupted");
        }
    }

    /** Runs a command that must succeed. */
    public String require(List<String> command) throws SetupException {
        Result result = run(command);
        if (!result.ok()) {
            throw new SetupException(String.join(" ", command) + ": exit " + result.exitCode() + ": " + result.output());
        }
        return result.output();
    }

    /** The network could not be set up or torn down; the message names the failing command. */
    public static final class SetupException extends Exception {
        public SetupException(String message) {
            super(message);
        }
    }
}
