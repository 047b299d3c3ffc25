package io.tandem.cli;

import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.ControlConfig;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.dataplane.netsetup.PolicyRouting;
import io.tandem.ha.BirdConfig;
import io.tandem.ha.KeepalivedConfig;
import io.tandem.os.CommandRunner;
import io.tandem.statesync.SyncKeys;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code tandemctl}: the operator's command line. Commands about the running pair (status,
 * sync, failover, takeover) talk to the local tandemd over its control socket; the others
 * create the pair's sync key and print what a config implies (routing, keepalived.conf).
 */
@Command(name = "tandemctl", mixinStandardHelpOptions = true, version = "tandemctl 0.1.0",
        description = "Operate a Tandem load-balancer pair.",
        subcommands = {PairCommands.Status.class, PairCommands.Sync.class, PairCommands.Failover.class, PairCommands.Takeover.class,
                TableCommands.Flows.class, TableCommands.Services.class, TableCommands.Backends.class, TableCommands.Events.class,
                TableCommands.Drain.class, TableCommands.Undrain.class, TableCommands.Reload.class, TableCommands.Config.class,
                TandemCtl.Keygen.class, TandemCtl.Routing.class, TandemCtl.KeepalivedConf.class, TandemCtl.BirdConf.class,
                TandemCtl.Completion.class})
public final class TandemCtl implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    CommonOptions options = new CommonOptions();

    /**
     * The options every command that talks to tandemd takes, accepted before or after the
     * subcommand ({@code tandemctl --socket S status} and {@code tandemctl status --socket S}).
     */
    static final class CommonOptions {
        @Option(names = "--socket", description = "tandemd's control socket (default: " + ControlConfig.DEFAULT_SOCKET + ")")
        Path socket;

        @Option(names = "--json", description = "print tandemd's answer as JSON")
        boolean json;
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new TandemCtl()).execute(args));
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 2;
    }

    /**
     * A command that reads a tandem config and prints what follows from it. A config that
     * cannot be used is reported with its field errors and exit code 2.
     */
    abstract static class FromConfig implements Callable<Integer> {
        @Parameters(index = "0", defaultValue = "/etc/tandem/tandem.yaml", description = "the config (default: ${DEFAULT-VALUE})")
        Path configFile;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        /** What to print for this config. */
        abstract String render(TandemConfig config) throws Exception;

        @Override
        public Integer call() throws Exception {
            String text;
            try {
                text = render(ConfigLoader.load(configFile));
            } catch (ConfigException | IllegalArgumentException e) {
                spec.commandLine().getErr().println("tandemctl " + spec.name() + ": " + e.getMessage());
                return 2;
            }
            PrintWriter out = spec.commandLine().getOut();
            out.print(text);
            out.flush(); // print() does not flush picocli's writer, and main() exits at once
            return 0;
        }
    }

    /** Prints the policy routing tandemd installs for a config, without touching anything. */
    @Command(name = "routing", description = "Print the ip rules, route and sysctls tandemd sets up for a config.")
    static final class Routing extends FromConfig {
        @Override
        String render(TandemConfig config) {
            ServiceTable services = ServiceTable.build(config.services(),
                    new SnatPortPools(config.conntrack().snatPorts().first(), config.conntrack().snatPorts().last()), MaglevTable.DEFAULT_SIZE);
            return String.join("\n", new PolicyRouting(config.dataplane(), new CommandRunner(), Path.of("/proc/sys"))
                    .describe(services.services())) + "\n";
        }
    }

    /** Prints keepalived's configuration for this box, rendered from the tandem config. */
    @Command(name = "keepalived-config", description = "Print keepalived.conf for this box, rendered from the tandem config.")
    static final class KeepalivedConf extends FromConfig {
        @Override
        String render(TandemConfig config) throws Exception {
            return KeepalivedConfig.render(config);
        }
    }

    /** Prints BIRD 2's configuration for this box (BGP mode), rendered from the tandem config. */
    @Command(name = "bird-config", description = "Print bird.conf for this box (ha.mode: bgp), rendered from the tandem config.")
    static final class BirdConf extends FromConfig {
        @Override
        String render(TandemConfig config) {
            return BirdConfig.render(config);
        }
    }

    /** Prints a bash completion script for tandemctl (picocli's generator). */
    @Command(name = "completion", description = "Print bash completion: source <(tandemctl completion), or save it to /etc/bash_completion.d/tandemctl.")
    static final class Completion implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            out.print(picocli.AutoComplete.bash("tandemctl", spec.root().commandLine()));
            out.flush();
            return 0;
        }
    }

    /** Creates the AES-256 key both boxes share for state sync. */
    @Command(name = "keygen", description = "Create the pair's sync credential (a key pair and its certificate, mode 0600) and"
            + " print its password; copy the file to both boxes and the password into both configs.")
    static final class Keygen implements Callable<Integer> {
        @Parameters(index = "0", defaultValue = "/etc/tandem/sync.p12", description = "where to write it (default: ${DEFAULT-VALUE})")
        Path file;

        @Option(names = "--password", description = "the keystore password to use (at least 16 characters; default: a random one)")
        String password;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            if (Files.exists(file)) {
                err.println("tandemctl keygen: " + file + " exists; a new key would lock the peer out. Remove it first if you mean to.");
                return 1;
            }
            if (password != null && password.length() < SyncKeys.MIN_PASSWORD) {
                err.println("tandemctl keygen: --password must have at least " + SyncKeys.MIN_PASSWORD + " characters");
                return 2;
            }
            String pass = password != null ? password : SyncKeys.newPassword();
            SyncKeys.generate(file, pass.toCharArray());
            out.println("sync key written to " + file + " (mode 0600); copy it to the peer box as the same path, owned by tandemd's user");
            out.println("put its password in the sync section of both boxes' tandem.yaml:");
            out.println("  key_password: " + pass);
            return 0;
        }
    }
}
