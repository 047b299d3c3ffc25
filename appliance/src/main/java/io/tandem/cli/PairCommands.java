package io.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Map;

/** The commands about the pair: status, sync, failover, takeover. */
final class PairCommands {
    private PairCommands() {
    }

    @Command(name = "status", description = {"Both boxes' roles, VRRP states and flows, whether the pair is in sync, and why not.",
            "Exit code 0 in sync, 1 not in sync, 3 tandemd not running."})
    static final class Status extends ControlCommand {
        @Override
        int run(ControlClient client, PrintWriter out) throws IOException {
            JsonNode status = client.call("status", false, Map.of());
            if (json) {
                printJson(out, status);
            } else {
                out.print(StatusView.render(status, System.currentTimeMillis()));
            }
            return status.path("not_in_sync").isEmpty() ? 0 : REFUSED;
        }
    }

    @Command(name = "sync", description = {"The sync link: peer, records sent and received, lag, digests, resyncs.",
            "Exit code 0 when the digests are equal, 1 otherwise."})
    static final class Sync extends ControlCommand {
        @Override
        int run(ControlClient client, PrintWriter out) throws IOException {
            JsonNode sync = client.call("sync", false, Map.of());
            if (json) {
                printJson(out, sync);
            } else {
                sync.properties().forEach(e -> out.printf("%-18s %s%n", e.getKey(), e.getValue().isNull() ? "-" : e.getValue().toString()));
            }
            return sync.path("digests_equal").asBoolean(false) ? 0 : REFUSED;
        }
    }

    /** failover and takeover: ask, then wait until keepalived has moved the addresses. */
    abstract static class HandOver extends ControlCommand {
        @Option(names = "--force", description = "hand over even when the pair is not in sync: connections the other box lacks are reset")
        boolean force;

        @Option(names = "--no-wait", description = "return once tandemd accepted, without waiting for the new roles")
        boolean noWait;

        @Option(names = "--timeout", defaultValue = "10", description = "seconds to wait for the new roles (default: ${DEFAULT-VALUE})")
        int timeoutSeconds;

        abstract String command();

        /** Whether the pair has reached the roles this command asked for. */
        abstract boolean done(JsonNode status);

        @Override
        int run(ControlClient client, PrintWriter out) throws IOException, InterruptedException {
            JsonNode result = client.call(command(), force, Map.of());
            if (!result.path("accepted").asBoolean()) {
                if (json) {
                    printJson(out, result);
                } else {
                    spec.commandLine().getErr().println(result.path("message").asText());
                    for (JsonNode reason : result.path("reasons")) {
                        spec.commandLine().getErr().println("  - " + reason.asText());
                    }
                }
                return REFUSED;
            }
            if (!json) {
                out.println(result.path("message").asText());
                if (result.path("forced").asBoolean()) {
                    for (JsonNode reason : result.path("reasons")) {
                        out.println("  overridden: " + reason.asText());
                    }
                }
                out.flush();
            }
            if (noWait) {
                if (json) {
                    printJson(out, result);
                }
                return 0;
            }
            long started = System.nanoTime();
            long deadline = started + timeoutSeconds * 1_000_000_000L;
            JsonNode status = client.call("status", false, Map.of());
            while (!done(status) && System.nanoTime() < deadline) {
                Thread.sleep(100); // polling a local socket; the CLI, not a test
                status = client.call("status", false, Map.of());
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            if (json) {
                printJson(out, status);
            }
            if (!done(status)) {
                spec.commandLine().getErr().printf("tandemctl %s: the roles did not change within %d s; see 'tandemctl status'%n",
                        command(), timeoutSeconds);
                return TIMED_OUT;
            }
            if (!json) {
                out.printf("done in %.1f s: %s is %s, %s is %s%n", seconds,
                        status.path("self").path("name").asText(), status.path("self").path("role").asText(),
                        status.path("peer").path("name").asText("the peer"), status.path("peer").path("role").asText("?"));
            }
            return 0;
        }
    }

    @Command(name = "failover", description = {"Hand the addresses to the peer (run on the active).",
            "Refused unless the peer is up, in sync and not lagging; exit code 1 when refused, 4 when the roles did not change in time."})
    static final class Failover extends HandOver {
        @Override
        String command() {
            return "failover";
        }

        @Override
        boolean done(JsonNode status) {
            return !status.path("self").path("role").asText().equals("ACTIVE")
                    && (force || status.path("peer").path("role").asText().equals("ACTIVE"));
        }
    }

    @Command(name = "takeover", description = {"Take the addresses from the peer (run on the standby).",
            "Refused unless this box is in sync with the active; exit code 1 when refused, 4 when the roles did not change in time."})
    static final class Takeover extends HandOver {
        @Override
        String command() {
            return "takeover";
        }

        @Override
        boolean done(JsonNode status) {
            return status.path("self").path("role").asText().equals("ACTIVE")
                    && (force || !status.path("peer").path("role").asText().equals("ACTIVE"));
        }
    }
}
