package io.tandem;

import io.tandem.config.TandemConfig;
import io.tandem.control.ControlSocketServer;
import io.tandem.os.CommandRunner;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * One tandemd per box: before a start touches anything, it checks that no running tandemd
 * holds what this one would take — its control socket, its TUN device or its route table (in
 * this network namespace) — and refuses with a message naming the running one. The TUN device
 * is also opened exclusively ({@code IFF_TUN_EXCL}), so two starting at once cannot both pass.
 * What a dead tandemd leaves behind (a socket file nobody answers on, the blackhole route of
 * its table) is no obstacle: a restart after a crash must work.
 */
final class SingleInstance {
    /** Another tandemd holds what this start needs; nothing was changed. */
    static final class Conflict extends Exception {
        Conflict(String message) {
            super(message);
        }
    }

    private SingleInstance() {
    }

    static void check(TandemConfig config, CommandRunner runner) throws Conflict, CommandRunner.SetupException {
        Path socket = Path.of(config.control().socket());
        if (ControlSocketServer.answers(socket)) {
            String running = running(Path.of(config.control().pidFile()));
            throw new Conflict(running + " answers on the control socket " + socket + ": stop it first ('systemctl stop tandemd')"
                    + " or give this one another control.socket, dataplane.tun_name and dataplane.route_table");
        }
        String tun = config.dataplane().tunName();
        if (runner.run(List.of("ip", "link", "show", "dev", tun)).ok()) {
            String running = holderOf(tun);
            throw new Conflict("the TUN device " + tun + " exists: " + running + " serves this box with it (or another program"
                    + " made it); stop it first, or give this one another dataplane.tun_name");
        }
        int table = config.dataplane().routeTable();
        CommandRunner.Result routes = runner.run(List.of("ip", "route", "show", "table", Integer.toString(table)));
        // A table that does not exist yet ("FIB table does not exist", exit 2) is free.
        for (String line : routes.ok() ? routes.output().lines().toList() : List.<String>of()) {
            if (line.contains(" dev ")) {
                String[] words = line.strip().split("\\s+");
                String device = words[List.of(words).indexOf("dev") + 1];
                String running = holderOf(device);
                throw new Conflict("route table " + table + " is in use (" + line.strip() + "): " + running
                        + " steers packets with it; stop it first, or give this one another dataplane.route_table");
            }
        }
    }

    /**
     * "tandemd (pid N)" for the process in this network namespace that holds TUN device
     * {@code tun} open (a TUN descriptor's fdinfo names its device: {@code iff:\tNAME}).
     */
    private static String holderOf(String tun) {
        try {
            String here = Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString();
            try (Stream<Path> processes = Files.list(Path.of("/proc"))) {
                for (Path process : processes.filter(p -> p.getFileName().toString().matches("[0-9]+")).toList()) {
                    if (holds(process, here, tun)) {
                        return "tandemd (pid " + process.getFileName() + ")";
                    }
                }
            }
        } catch (IOException e) {
            // /proc unreadable here: say it without the pid
        }
        return "another tandemd";
    }

    private static boolean holds(Path process, String netns, String tun) {
        try (Stream<Path> fds = Files.list(process.resolve("fdinfo"))) {
            if (!Files.readSymbolicLink(process.resolve("ns/net")).toString().equals(netns)) {
                return false;
            }
            for (Path fd : fds.toList()) {
                String info = Files.readString(fd);
                if (info.contains("iff:\t" + tun + "\n")) {
                    return true;
                }
            }
        } catch (IOException | RuntimeException e) {
            return false; // gone meanwhile, or not ours to read
        }
        return false;
    }

    /** "tandemd (pid N)" from the pid file when there is one, else "another tandemd". */
    private static String running(Path pidFile) {
        try {
            String pid = Files.readString(pidFile).strip();
            if (!pid.isEmpty() && ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false)) {
                return "tandemd (pid " + pid + ", " + pidFile + ")";
            }
        } catch (IOException | NumberFormatException e) {
            // no pid file, or not ours to read: say it without the pid
        }
        return "another tandemd";
    }
}
