package io.tandem.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.FastPathMode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** tandemctl's listings (flows, services, backends, events) and its changes to the running box (drain, reload). */
final class TableCommands {
    private TableCommands() {
    }

    @Command(name = "flows", description = "Tracked flows, a page at a time (newest filters first; --cursor for the next page).")
    static final class Flows extends ControlCommand {
        @Option(names = "--service", description = "only this service") String service;
        @Option(names = "--client", description = "only this client address[:port]") String client;
        @Option(names = "--backend", description = "only this backend address[:port]") String backend;
        @Option(names = "--state", description = "only this state, e.g. TCP_ESTABLISHED") String state;
        @Option(names = "--limit", defaultValue = "100", description = "flows per page, at most 1000 (default: ${DEFAULT-VALUE})") int limit;
        @Option(names = "--cursor", description = "where the page starts: the previous page's next cursor") Integer cursor;

        @Override
        int run(ControlClient client, PrintWriter out) throws IOException {
            Map<String, String> args = new LinkedHashMap<>();
            put(args, "service", service);
            put(args, "client", this.client);
            put(args, "backend", backend);
            put(args, "state", state);
            put(args, "limit", Integer.toString(limit));
            put(args, "cursor", cursor == null ? null : cursor.toString());
            JsonNode page = client.call("flows", false, args);
            if (json) {
                printJson(out, page);
                return 0;
            }
            out.printf("%-5s %-21s %-21s %-8s %-21s %-21s %-16s %s%n", "PROTO", "CLIENT", "VIP", "SERVICE", "SNAT", "BACKEND", "STATE", "IDLE");
            for (JsonNode f : page.path("flows")) {
                out.printf("%-5s %-21s %-21s %-8s %-21s %-21s %-16s %s%s%n", f.path("protocol").asText(), f.path("client").asText(),
                        f.path("vip").asText(), f.path("service").asText("-"), f.path("snat").asText(), f.path("backend").asText(),
                        f.path("state").asText(), StatusView.age(f.path("idle_millis").asLong()),
                        f.path("replicated").asBoolean() ? " (replicated)" : "");
            }
            if (!page.path("next_cursor").isNull()) {
                out.println("more: tandemctl flows --cursor " + page.path("next_cursor").asInt() + " (same filters)");
            }
            return 0;
        }
    }

    @Command(name = "services", description = "Services, their backends, weights, drains and flows.")
    static final class Services extends ControlCommand {
        @Override
        int run(ControlClient client, PrintWriter out) throws IOException {
            JsonNode services = client.call("services", false, Map.of());
            if (json) {
                printJson(out, services);
                return 0;
            }
            out.printf("%-10s %-22s %-5s %-16s %8s%n", "SERVICE", "VIP", "PROTO", "SNAT", "FLOWS");
            for (JsonNode s : services) {
                out.printf("%-10s %-22s %-5s %-16s %8d%n", s.path("name").asText(), s.path("vip").asText(), s.path("protocol").asText(),
                        s.path("snat").asText(), s.path("flows").asLong());
            }
            return 0;
        }
    }

    @Command(name = "backends", description = "Every backend of every service: weight, drained or serving, health, flows.")
    static final class Backends extends ControlCommand {
        @Override
        int run(ControlClient client, PrintWriter out) throws IOException {
            JsonNode backends = client.call("backends", false, Map.of());
            if (json) {
                printJson(out, backends);
                return 0;
            }
            out.printf("%-10s %-21s %6s %-8s %-10s %8s%n", "SERVICE", "BACKEND", "WEIGHT", "STATE", "HEALTH", "FLOWS");
            for (JsonNode b : backends) {
                out.printf("%-10s %-21s %6d %-8s %-10s %8d%n", b.path("service").asText(), b.path("address").asText(),
                        b.path("weight").asInt(), b.path("drained").asBoolean() ? "drained" : "serving", b.path("health").asText(),
                        b.path("flows").asLong());
            }
            return 0;
        }
    }

    @Command(name = "events", description = "Recent events: role changes, failovers and who asked, resyncs, reloads, drains.")
    static final class Events extends ControlCommand {
        @Option(names = "--limit", defaultValue = "50", description = "how many (default: ${DEFAULT-VALUE})") int limit;

        @Override
        int run(ControlClient client, PrintWriter out) throws IOException {
            JsonNode events = client.call("events", false, Map.of("limit", Integer.toString(limit)));
            if (json) {
                printJson(out, events);
                return 0;
            }
            for (JsonNode e : events) {
                out.printf("%tF %<tT  %-10s %s%n", e.path("at_millis").asLong(), e.path("kind").asText(), e.path("message").asText());
            }
            return 0;
        }
    }

    /** drain and undrain: the backend stops (or starts again) getting new flows; its flows go on. */
    abstract static class DrainCommand extends ControlCommand {
        @Parameters(index = "0", description = "the backend, address:port") String backend;
        @Option(names = "--service", description = "only in this service (default: every service that has it)") String service;

        abstract String command();

        @Override
        int run(ControlClient client, PrintWriter out) throws IOException {
            Map<String, String> args = new LinkedHashMap<>();
            put(args, "backend", backend);
            put(args, "service", service);
            JsonNode result = client.call(command(), false, args);
            if (json) {
                printJson(out, result);
            } else {
                result.properties().forEach(e -> e.getValue().forEach(k -> out.println(e.getKey() + " " + k.asText())));
            }
            return 0;
        }
    }

    @Command(name = "drain", description = "Send a backend no new flows; its open flows go on (until undrain or restart).")
    static final class Drain extends DrainCommand {
        @Override
        String command() {
            return "drain";
        }
    }

    @Command(name = "undrain", description = "Give a drained backend new flows again.")
    static final class Undrain extends DrainCommand {
        @Override
        String command() {
            return "undrain";
        }
    }

    @Command(name = "reload", description = "Re-read the config file: a bad one is refused with its errors (exit 1) and the running config stays.")
    static final class Reload extends ControlCommand {
        @Override
        int run(ControlClient client, PrintWriter out) throws IOException {
            JsonNode result = client.call("reload", false, Map.of());
            if (json) {
                printJson(out, result);
            } else {
                out.println(result.path("message").asText());
            }
            return 0;
        }
    }

    @Command(name = "config", description = "Config file tools.", subcommands = {ConfigCheck.class, ConfigPinDir.class})
    static final class Config implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            spec.commandLine().usage(spec.commandLine().getOut());
            return 2;
        }
    }

    @Command(name = "pin-dir", description = {"Print where the fast path pins its maps (dataplane.fast_path_pin_dir), or nothing when",
        "dataplane.fast_path is off: what tandemd.service's ExecStartPre prepares for the service user."})
    static final class ConfigPinDir implements Callable<Integer> {
        @Parameters(index = "0", description = "the config file") Path file;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            try {
                var dataplane = ConfigLoader.load(file).dataplane();
                if (dataplane.fastPath() != FastPathMode.OFF) {
                    spec.commandLine().getOut().println(dataplane.fastPathPinDir());
                    spec.commandLine().getOut().flush();
                }
                return 0;
            } catch (ConfigException e) {
                spec.commandLine().getErr().println(e.getMessage());
                return 2;
            }
        }
    }

    @Command(name = "check", description = "Validate a config file without touching the box: exit 0 if sound, 2 with every error otherwise.")
    static final class ConfigCheck implements Callable<Integer> {
        @Parameters(index = "0", description = "the config file") Path file;
        @Option(names = "--json", description = "print {\"ok\":…, \"errors\":[…]}") boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            try {
                var config = ConfigLoader.load(file);
                out.println(json ? "{\"ok\":true,\"services\":" + config.services().size() + ",\"errors\":[]}"
                        : file + ": ok (" + config.services().size() + " services)");
                out.flush();
                return 0;
            } catch (ConfigException e) {
                if (json) {
                    try {
                        out.println(new ObjectMapper().writeValueAsString(
                                Map.of("ok", false, "errors", e.errors())));
                    } catch (JsonProcessingException impossible) {
                        throw new IllegalStateException(impossible);
                    }
                    out.flush();
                } else {
                    spec.commandLine().getErr().println(e.getMessage());
                    spec.commandLine().getErr().flush();
                }
                return 2;
            }
        }
    }

    private static void put(Map<String, String> args, String key, String value) {
        if (value != null) {
            args.put(key, value);
        }
    }
}
