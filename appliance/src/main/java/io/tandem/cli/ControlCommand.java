package io.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.config.ControlConfig;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * A tandemctl command that talks to the local tandemd. Exit codes, for scripts and keepalived
 * checks: 0 done (or, for queries, healthy and in sync), 1 refused or not in sync, 3 tandemd not
 * reachable, 4 a hand-over did not complete in time.
 */
abstract class ControlCommand implements Callable<Integer> {
    static final int REFUSED = 1;
    static final int UNREACHABLE = 3;
    static final int TIMED_OUT = 4;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--socket", defaultValue = ControlConfig.DEFAULT_SOCKET, description = "tandemd's control socket (default: ${DEFAULT-VALUE})")
    Path socket;

    @Option(names = "--json", description = "print tandemd's answer as JSON")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Runs the command against tandemd and returns the exit code. */
    abstract int run(ControlClient client, PrintWriter out) throws IOException, InterruptedException;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try {
            return run(new ControlClient(socket), out);
        } catch (ControlClient.Unreachable e) {
            spec.commandLine().getErr().println("tandemctl " + spec.name() + ": " + e.getMessage());
            return UNREACHABLE;
        } catch (ControlClient.Refused e) {
            spec.commandLine().getErr().println("tandemctl " + spec.name() + ": " + e.getMessage());
            return REFUSED;
        } finally {
            out.flush();
            spec.commandLine().getErr().flush();
        }
    }

    void printJson(PrintWriter out, JsonNode node) throws IOException {
        out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node));
    }
}
