package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.config.ConfigLoader;
import io.tandem.ha.KeepalivedConfig;
import io.tandem.lab.NamespaceLab;
import io.tandem.statesync.SyncKeys;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The keepalived pair of the end-to-end tests in {@code scripts/lab-pair}: lb1 and lb2 with
 * their config, tandemd and keepalived started and killed by PID, tandemctl run on a box,
 * echo servers on the three backends, and the check that every connection survived.
 */
final class PairLab {
    /** What packaging/systemd/tandemd.service sets. */
    static final String UNIT_JAVA_OPTS = "-Xms256m";
    /** The unit's options, and a time on every log line (journald adds one on a real box). */
    static final String JAVA_OPTS = UNIT_JAVA_OPTS
            + " -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS"
            + " " + System.getProperty("tandem.lab.java_opts", ""); // scripts/soak adds native memory tracking

    private PairLab() {
    }

    /** The lab pair's keystore password ({@code tandemctl keygen} makes a random one on a real box). */
    static final String SYNC_PASSWORD = "lab-pair-sync-password-01";

    /** The sync section of a lab box: the sync link's addresses, the shared key, quick digests and refreshes. */
    static String sync(String bind, String peer, Object key) {
        return """
                sync:
                  bind_address: %s
                  peer: %s
                  key_file: %s
                  key_password: %s
                  digest_interval: 300ms
                  refresh_interval: 5s
                  remote_hold: 60s
                """.formatted(bind, peer, key, SYNC_PASSWORD);
    }

    /** A box of the pair lab: keepalived's side in {@code logs}, the echo service on the floating VIP. */
    static String config(String name, int self, int peer, Object key, int priority, Path logs, Object checkScript) {
        return TestConfig.box(name).dataplane("queues: 1", "stats_interval: 500ms").conntrack("max_flows: 65536")
                .section(sync("198.18.2." + self, "198.18.2." + peer, key))
                .section("""
                        ha:
                          virtual_router_id: 51
                          priority: %1$d
                          self_address: 198.18.0.%2$d
                          peer_address: 198.18.0.%3$d
                          track_file: %4$s/%5$s.track
                          notify_fifo: %4$s/%5$s.fifo
                          check_script: %6$s
                        """.formatted(priority, self, peer, logs, name, checkScript))
                .control(logs.resolve(name + ".sock"))
                .services(TestConfig.Service.echo(TestConfig.VIP, TestConfig.SNAT)).yaml();
    }
    static Process[] startBox(NamespaceLab lab, String name, int self, int peer, int priority, Path key) throws Exception {
        return startBox(lab, name, name, self, peer, priority, key);
    }

    /** Starts tandemd (logging to {@code log}.log), then keepalived, on box {@code name}. */
    static Process[] startBox(NamespaceLab lab, String name, String log, int self, int peer, int priority, Path key)
            throws Exception {
        return startBox(lab, name, log, self, peer, priority, key, yaml -> yaml);
    }

    static Process[] startBox(NamespaceLab lab, String name, String log, int self, int peer, int priority, Path key,
                                      UnaryOperator<String> edit) throws Exception {
        Path config = lab.logs().resolve(name + ".yaml");
        Files.writeString(config, edit.apply(config(name, self, peer, key, priority, lab.logs(), lab.checkScript())));
        Path keepalivedConf = lab.logs().resolve(name + "-keepalived.conf");
        Files.writeString(keepalivedConf, KeepalivedConfig.render(ConfigLoader.load(config)));
        Process tandemd = startTandemd(lab, name, log);
        Process keepalived = lab.start(name, log + "-keepalived.log", "keepalived", "--dont-fork", "--log-console", "--vrrp",
                "-f", keepalivedConf.toString(), "-p", lab.logs().resolve(name + "-keepalived.pid").toString(),
                "-r", lab.logs().resolve(name + "-vrrp.pid").toString());
        return new Process[] {tandemd, keepalived};
    }

    /**
     * Starts tandemd on box {@code name} with the config {@link #startBox} wrote, logging to
     * {@code log}.log: with the systemd unit's Java options, as an installed box runs it, and
     * the box's own class-data archive (written at its first clean stop), as each real box has.
     */
    static Process startTandemd(NamespaceLab lab, String name, String log) throws Exception {
        Process tandemd = lab.start(name, log + ".log", "env", "TANDEMD_JAVA_OPTS=" + JAVA_OPTS,
                "TANDEMD_CDS_ARCHIVE=" + lab.logs().resolve(name + ".jsa"),
                lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                "--config", lab.logs().resolve(name + ".yaml").toString());
        lab.awaitLog(log + ".log", "running", Duration.ofSeconds(60));
        return tandemd;
    }

    /** A new sync credential for the pair, in the lab's logs, opened with {@link #SYNC_PASSWORD}. */
    static Path newKey(NamespaceLab lab) throws Exception {
        Path key = lab.logs().resolve("sync.p12");
        SyncKeys.generate(key, SYNC_PASSWORD.toCharArray());
        return key;
    }

    /** lb1 (priority 150) ACTIVE, then lb2 (100) STANDBY: the pair every case starts from. Returns lb1's processes. */
    static Process[] startPair(NamespaceLab lab, Path key) throws Exception {
        return startPair(lab, key, yaml -> yaml)[0];
    }

    /** As {@link #startPair(NamespaceLab, Path)} with both configs edited; returns both boxes' processes. */
    static Process[][] startPair(NamespaceLab lab, Path key, UnaryOperator<String> edit) throws Exception {
        Process[] lb1 = startBox(lab, "lb1", "lb1", 1, 2, 150, key, edit);
        lab.awaitLog("lb1.log", "-> ACTIVE", Duration.ofSeconds(30));
        Process[] lb2 = startBox(lab, "lb2", "lb2", 2, 1, 100, key, edit);
        lab.awaitLog("lb2.log", "-> STANDBY", Duration.ofSeconds(30));
        return new Process[][] {lb1, lb2};
    }

    /**
     * Waits for the echo clients, prints "failover (WHAT): summary …" and fails unless every
     * one of the {@code total} connections survived with no stall of 3 s or more.
     */
    static void assertEveryFlowSurvived(NamespaceLab lab, Process clients, int total, String what, String context)
            throws Exception {
        assertEveryFlowSurvived(lab, clients, total, what, context, 3000);
    }

    /**
     * As above, with the bound on the echoes' round trips (not the gaps between echoes) of requests
     * sent from {@code sinceMillis} on: for a load of thousands of connections, whose client on
     * the lab's two cores runs late by itself (its gaps then measure it, not the path), and whose
     * setup, at thousands of connections a second, is not the failover's. Returns how many
     * connections had an echo from then on take more than a second.
     */
    static int assertEveryFlowSurvivedByRoundTrip(NamespaceLab lab, Process clients, int total, String what, long sinceMillis,
                                                  long maxRoundTripMillis) throws Exception {
        String summary = survivors(lab, clients, total, what, "");
        Matcher slow = Pattern.compile("(?m)^slow (\\d+) sent_at_ms (\\d+) round_trip_ms (\\d+)").matcher(lab.log("clients.log"));
        long longest = 0;
        Set<String> overASecond = new HashSet<>();
        while (slow.find()) {
            long roundTrip = Long.parseLong(slow.group(3));
            if (Long.parseLong(slow.group(2)) >= sinceMillis) {
                longest = Math.max(longest, roundTrip);
                if (roundTrip > 1000) {
                    overASecond.add(slow.group(1));
                }
            }
        }
        System.out.println("failover (" + what + "): the longest round trip of an echo sent from the failover on: "
                + (longest == 0 ? "every one under the 500 ms the client logs from" : longest + " ms"));
        assertTrue(longest < maxRoundTripMillis, "the longest round trip from the failover on under " + maxRoundTripMillis + " ms: "
                + longest + "\n" + summary);
        return overASecond.size();
    }

    /** As above, the longest stall under {@code maxStallMillis}. */
    static void assertEveryFlowSurvived(NamespaceLab lab, Process clients, int total, String what, String context, long maxStallMillis)
            throws Exception {
        String summary = survivors(lab, clients, total, what, context);
        Matcher m = Pattern.compile("longest_stall_ms (\\d+)").matcher(summary);
        assertTrue(m.find(), summary);
        assertTrue(Long.parseLong(m.group(1)) < maxStallMillis, "longest stall under " + maxStallMillis + " ms: " + summary);
    }

    /** The echo clients' summary, once they have exited with every connection intact. */
    private static String survivors(NamespaceLab lab, Process clients, int total, String what, String context) throws Exception {
        return survivors(lab, clients, "clients.log", total, what, context, Duration.ofSeconds(60));
    }

    /** As above, for clients logging to {@code log}, waited for up to {@code wait}. */
    static String survivors(NamespaceLab lab, Process clients, String log, int total, String what, String context, Duration wait)
            throws Exception {
        int exit = NamespaceLab.awaitExit(clients, wait);
        String summary = lab.log(log).lines().filter(l -> l.startsWith("summary")).findFirst().orElse("no summary");
        System.out.println("failover (" + what + "): " + summary);
        assertEquals(0, exit, summary + "\n" + lab.log(log) + context);
        Matcher m = Pattern.compile("surviving (\\d+)/(\\d+)").matcher(summary);
        assertTrue(m.find(), summary);
        assertEquals(total + "/" + total, m.group(1) + "/" + m.group(2), summary);
        return summary;
    }

    static void startEchoServers(NamespaceLab lab) throws Exception {
        for (String b : List.of("b1", "b2", "b3")) {
            lab.traffic(b, b + ".log", "echo-server", "7000", "120");
            lab.awaitLog(b + ".log", "listening", Duration.ofSeconds(30));
        }
    }

    /** The box dies hard: keepalived and tandemd SIGKILLed (by their PIDs), its links down. */
    static void killHard(NamespaceLab lab, String box, Process[] processes) throws Exception {
        processes[1].destroyForcibly();
        processes[0].destroyForcibly();
        lab.run(box, Duration.ofSeconds(10), "ip", "link", "set", "front", "down");
        lab.run(box, Duration.ofSeconds(10), "ip", "link", "set", "back", "down");
    }

    /** Runs tandemctl on a box against that box's tandemd. */
    static NamespaceLab.Outcome tandemctl(NamespaceLab lab, String box, String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(lab.root().resolve("appliance/target/tandem/bin/tandemctl").toString()));
        argv.addAll(List.of(args));
        argv.addAll(List.of("--socket", lab.logs().resolve(box + ".sock").toString()));
        return lab.outcome(box, Duration.ofSeconds(60), argv.toArray(String[]::new));
    }

    static void awaitInSync(NamespaceLab lab, String box) throws Exception {
        String[] last = {""};
        NamespaceLab.await(() -> {
            try {
                NamespaceLab.Outcome o = tandemctl(lab, box, "status");
                last[0] = o.output();
                return o.exit() == 0;
            } catch (Exception e) {
                last[0] = e.toString();
                return false;
            }
        }, Duration.ofSeconds(30), () -> "tandemctl status on " + box + " says in sync:\n" + last[0]);
    }
}
