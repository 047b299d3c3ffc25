package io.tandem.cli;

import io.tandem.balancer.MaglevTable;
import io.tandem.balancer.ServiceTable;
import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import io.tandem.conntrack.SnatPortPools;
import io.tandem.dataplane.netsetup.CommandRunner;
import io.tandem.dataplane.netsetup.PolicyRouting;
import io.tandem.ha.KeepalivedConfig;
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
 * {@code tandemctl}: the operator's command line. Today it creates the pair's sync key and
 * prints the routing and keepalived configuration a config implies; the
 * commands that talk to a running tandemd (status, failover, takeover, …) come with the
 * control API.
 */
@Command(name = "tandemctl", mixinStandardHelpOptions = true, version = "tandemctl 0.1.0",
        description = "Operate a Tandem load-balancer pair.",
        subcommands = {TandemCtl.Keygen.class, TandemCtl.Routing.class, TandemCtl.KeepalivedConf.class})
public final class TandemCtl implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(new CommandLine(new TandemCtl()).execute(args));
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 2;
    }

    /** Prints the policy routing tandemd installs for a config, without touching anything. */
    @Command(name = "routing", description = "Print the ip rules, route and sysctls tandemd sets up for a config.")
    static final class Routing implements Callable<Integer> {
        @Parameters(index = "0", defaultValue = "/etc/tandem/tandem.yaml", description = "the config (default: ${DEFAULT-VALUE})")
        Path configFile;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            TandemConfig config;
            try {
                config = ConfigLoader.load(configFile);
            } catch (ConfigException e) {
                spec.commandLine().getErr().println("tandemctl routing: " + e.getMessage());
                return 2;
            }
            ServiceTable services = ServiceTable.build(config.services(),
                    new SnatPortPools(config.conntrack().snatPorts().first(), config.conntrack().snatPorts().last()), MaglevTable.DEFAULT_SIZE);
            new PolicyRouting(config.dataplane(), new CommandRunner(), Path.of("/proc/sys")).describe(services.services())
                    .forEach(spec.commandLine().getOut()::println);
            return 0;
        }
    }

    /** Prints keepalived's configuration for this box, rendered from the tandem config. */
    @Command(name = "keepalived-config", description = "Print keepalived.conf for this box, rendered from the tandem config.")
    static final class KeepalivedConf implements Callable<Integer> {
        @Parameters(index = "0", defaultValue = "/etc/tandem/tandem.yaml", description = "the config (default: ${DEFAULT-VALUE})")
        Path configFile;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            try {
                PrintWriter out = spec.commandLine().getOut();
                out.print(KeepalivedConfig.render(ConfigLoader.load(configFile)));
                out.flush(); // print() does not flush picocli's writer, and main() exits at once
                return 0;
            } catch (ConfigException | IllegalArgumentException e) {
                spec.commandLine().getErr().println("tandemctl keepalived-config: " + e.getMessage());
                return 2;
            }
        }
    }

    /** Creates the AES-256 key both boxes share for state sync. */
    @Command(name = "keygen", description = "Create the pair's sync key (copy the file to both boxes, mode 0600).")
    static final class Keygen implements Callable<Integer> {
        @Parameters(index = "0", defaultValue = "/etc/tandem/sync.p12", description = "where to write it (default: ${DEFAULT-VALUE})")
        Path file;

        @Option(names = "--password", defaultValue = "tandem", description = "keystore password, as sync.key_password (default: ${DEFAULT-VALUE})")
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
            SyncKeys.generate(file, password.toCharArray());
            out.println("sync key written to " + file + " (mode 0600); copy it to the peer box as the same path");
            return 0;
        }
    }
}
