package io.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.config.ControlConfig;
import picocli.CommandLine;

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

    /** The same two options may come before the subcommand ({@link TandemCtl.CommonOptions}); given after it, they win. */
    @CommandLine.Mixin
    TandemCtl.CommonOptions options = new TandemCtl.CommonOptions();

    @CommandLine.ParentCommand
    TandemCtl root;

    /** Set from the options before the first {@link #run}: the answer's form. */
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Runs the command against tandemd and returns the exit code. */
    abstract int run(ControlClient client, PrintWriter out) throws IOException, InterruptedException;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        TandemCtl.CommonOptions before = root == null ? new TandemCtl.CommonOptions() : root.options;
        json = options.json || before.json;
        Path socket = options.socket != null ? options.socket : before.socket != null ? before.socket
                : Path.of(ControlConfig.DEFAULT_SOCKET);
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
