package io.tandem.e2e;

import io.tandem.config.ConfigLoader;
import io.tandem.ha.KeepalivedConfig;
import io.tandem.lab.NamespaceLab;
import io.tandem.statesync.SyncKeys;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The headline: 200 live TCP connections through the active box of a keepalived pair, each
 * echoing a message every 20 ms; the active dies hard (tandemd and keepalived SIGKILLed, its
 * links down); every connection carries on through the standby. Then the dead box returns:
 * it pulls the table, stays held back until it is in sync, and only then takes the addresses
 * back (it has the higher priority) — and still no connection is lost. The longest stall is
 * measured and printed.
 */
class PairFailoverIT {
    private static final String CONFIG = """
            node: { name: %1$s }
            dataplane: { front_interface: front, back_interface: back, queues: 1, stats_interval: 500ms }
            conntrack: { max_flows: 65536 }
            sync:
              bind_address: 198.18.2.%2$d
              peer: 198.18.2.%3$d
              key_file: %4$s
              digest_interval: 300ms
              refresh_interval: 5s
              remote_hold: 60s
            ha:
              virtual_router_id: 51
              priority: %5$d
              self_address: 198.18.0.%2$d
              peer_address: 198.18.0.%3$d
              track_file: %6$s/%1$s.track
              notify_fifo: %6$s/%1$s.fifo
              check_script: %7$s
            control: { socket: %6$s/%1$s.sock, http: "off" }
            services:
              - name: echo
                vip: 198.18.0.100
                port: 7000
                snat_address: 198.19.0.100
                backends:
                  - { address: 198.19.0.11, port: 7000 }
                  - { address: 198.19.0.12, port: 7000 }
                  - { address: 198.19.0.13, port: 7000 }
            """;
    private static Process[] startBox(NamespaceLab lab, String name, int self, int peer, int priority, Path key) throws Exception {
        return startBox(lab, name, name, self, peer, priority, key);
    }

    /** Starts tandemd (logging to {@code log}.log), then keepalived, on box {@code name}. */
    private static Process[] startBox(NamespaceLab lab, String name, String log, int self, int peer, int priority, Path key)
            throws Exception {
        return startBox(lab, name, log, self, peer, priority, key, yaml -> yaml);
    }

    private static Process[] startBox(NamespaceLab lab, String name, String log, int self, int peer, int priority, Path key,
                                      java.util.function.UnaryOperator<String> edit) throws Exception {
        Path config = lab.logs().resolve(name + ".yaml");
        Files.writeString(config, edit.apply(CONFIG.formatted(name, self, peer, key, priority, lab.logs(), lab.checkScript())));
        Path keepalivedConf = lab.logs().resolve(name + "-keepalived.conf");
        Files.writeString(keepalivedConf, KeepalivedConfig.render(ConfigLoader.load(config)));
        Process tandemd = lab.start(name, log + ".log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(),
                "--config", config.toString());
        lab.awaitLog(log + ".log", "running", Duration.ofSeconds(60));
        Process keepalived = lab.start(name, log + "-keepalived.log", "keepalived", "--dont-fork", "--log-console", "--vrrp",
                "-f", keepalivedConf.toString(), "-p", lab.logs().resolve(name + "-keepalived.pid").toString(),
                "-r", lab.logs().resolve(name + "-vrrp.pid").toString());
        return new Process[] {tandemd, keepalived};
    }

    /** lb1 (priority 150) ACTIVE, then lb2 (100) STANDBY: the pair every case starts from. Returns lb1's processes. */
    private static Process[] startPair(NamespaceLab lab, Path key) throws Exception {
        Process[] lb1 = startBox(lab, "lb1", 1, 2, 150, key);
        lab.awaitLog("lb1.log", "-> ACTIVE", Duration.ofSeconds(30));
        startBox(lab, "lb2", 2, 1, 100, key);
        lab.awaitLog("lb2.log", "-> STANDBY", Duration.ofSeconds(30));
        return lb1;
    }

    /**
     * Waits for the echo clients, prints "failover (WHAT): summary …" and fails unless every
     * one of the {@code total} connections survived with no stall of 3 s or more.
     */
    private static void assertEveryFlowSurvived(NamespaceLab lab, Process clients, int total, String what, String context)
            throws Exception {
        int exit = NamespaceLab.awaitExit(clients, Duration.ofSeconds(60));
        String summary = lab.log("clients.log").lines().filter(l -> l.startsWith("summary")).findFirst().orElse("no summary");
        System.out.println("failover (" + what + "): " + summary);
        assertEquals(0, exit, summary + "\n" + lab.log("clients.log") + context);
        Matcher m = Pattern.compile("surviving (\\d+)/(\\d+) longest_stall_ms (\\d+)").matcher(summary);
        assertTrue(m.find(), summary);
        assertEquals(total + "/" + total, m.group(1) + "/" + m.group(2), summary);
        assertTrue(Long.parseLong(m.group(3)) < 3000, "longest stall under 3 s: " + summary);
    }

    private static void startEchoServers(NamespaceLab lab) throws Exception {
        for (String b : List.of("b1", "b2", "b3")) {
            lab.traffic(b, b + ".log", "echo-server", "7000", "120");
            lab.awaitLog(b + ".log", "listening", Duration.ofSeconds(30));
        }
    }

    /** The box dies hard: keepalived and tandemd SIGKILLed (by their PIDs), its links down. */
    private static void killHard(NamespaceLab lab, String box, Process[] processes) throws Exception {
        processes[1].destroyForcibly();
        processes[0].destroyForcibly();
        lab.run(box, Duration.ofSeconds(10), "ip", "link", "set", "front", "down");
        lab.run(box, Duration.ofSeconds(10), "ip", "link", "set", "back", "down");
    }

    @Test
    void everyFlowSurvivesTheActivesHardDeathAndItsReturn() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tpf", "scripts/lab-pair")) {
            Path key = lab.logs().resolve("sync.p12");
            SyncKeys.generate(key, "tandem".toCharArray());
            startEchoServers(lab);
            Process[] lb1 = startPair(lab, key);

            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "200", "20", "30");
            NamespaceLab.await(() -> lab.lastFlows("lb2.log") >= 200, Duration.ofSeconds(20),
                    () -> "the standby holding the 200 flows:\n" + lab.log("lb2.log"));

            // The active dies hard.
            killHard(lab, "lb1", lb1);
            lab.awaitLog("lb2.log", "-> ACTIVE", Duration.ofSeconds(10));

            // The dead box returns while the connections run on: table first, addresses after.
            // (A real box takes longer to reboot than the peer's failure detection.)
            lab.awaitLog("lb2.log", "sync: peer left the group", Duration.ofSeconds(15));
            lab.run("lb1", Duration.ofSeconds(10), "ip", "link", "set", "front", "up");
            lab.run("lb1", Duration.ofSeconds(10), "ip", "link", "set", "back", "up");
            startBox(lab, "lb1", "lb1-back", 1, 2, 150, key);
            lab.awaitLog("lb1-back.log", "-> ACTIVE", Duration.ofSeconds(20));
            String back = lab.log("lb1-back.log");
            Matcher pulled = Pattern.compile("full table received from the peer: (\\d+) flows").matcher(back);
            assertTrue(pulled.find() && Integer.parseInt(pulled.group(1)) >= 200, back);
            assertTrue(back.indexOf("-> SYNCING") < back.indexOf("-> STANDBY") && back.indexOf("-> STANDBY") < back.indexOf("-> ACTIVE"),
                    "held back until in sync, master only after:\n" + back);
            lab.awaitLog("lb2.log", "ACTIVE -> STANDBY", Duration.ofSeconds(10));

            assertEveryFlowSurvived(lab, clients, 200, "SIGKILL of the active, then its return and failback",
                    "\nlb2:\n" + lab.log("lb2.log"));
        }
    }

    /** Runs tandemctl on a box against that box's tandemd. */
    private static NamespaceLab.Outcome tandemctl(NamespaceLab lab, String box, String... args) throws Exception {
        List<String> argv = new java.util.ArrayList<>(List.of(lab.root().resolve("appliance/target/tandem/bin/tandemctl").toString()));
        argv.addAll(List.of(args));
        argv.addAll(List.of("--socket", lab.logs().resolve(box + ".sock").toString()));
        return lab.outcome(box, Duration.ofSeconds(60), argv.toArray(String[]::new));
    }

    private static void awaitInSync(NamespaceLab lab, String box) throws Exception {
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

    @Test
    void aManualFailoverAndATakeoverBackKeepEveryFlow() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tpm", "scripts/lab-pair")) {
            Path key = lab.logs().resolve("sync.p12");
            SyncKeys.generate(key, "tandem".toCharArray());
            startEchoServers(lab);
            startPair(lab, key);

            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "200", "20", "30");
            NamespaceLab.await(() -> lab.lastFlows("lb2.log") >= 200, Duration.ofSeconds(20), () -> lab.log("lb2.log"));
            awaitInSync(lab, "lb1");

            // A reload on one box only: the pair sees its services configs differ and is not in sync.
            Path lb2Config = lab.logs().resolve("lb2.yaml");
            String lb2Yaml = Files.readString(lb2Config);
            Files.writeString(lb2Config, lb2Yaml.replace("{ address: 198.19.0.12, port: 7000 }", "{ address: 198.19.0.12, port: 7000, weight: 2 }"));
            assertEquals(0, tandemctl(lab, "lb2", "reload").exit());
            NamespaceLab.Outcome differs = tandemctl(lab, "lb1", "status");
            assertEquals(1, differs.exit(), differs.output());
            assertTrue(differs.output().contains("the services config differs from the peer's"), differs.output());
            Files.writeString(lb2Config, lb2Yaml);
            assertEquals(0, tandemctl(lab, "lb2", "reload").exit());
            awaitInSync(lab, "lb1");

            // A drain on the active reaches the standby, so the failover below keeps it.
            assertEquals(0, tandemctl(lab, "lb1", "drain", "198.19.0.13:7000").exit());
            NamespaceLab.await(() -> {
                try {
                    return tandemctl(lab, "lb2", "backends").output().matches("(?s).*198.19.0.13:7000\\s+1 drained.*");
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(10), () -> "lb2 adopts lb1's drain");

            NamespaceLab.Outcome failover = tandemctl(lab, "lb1", "failover");
            System.out.println("tandemctl failover on lb1:\n" + failover.output());
            assertEquals(0, failover.exit(), failover.output());
            assertTrue(failover.output().contains("lb1 is STANDBY, lb2 is ACTIVE"), failover.output());
            assertTrue(lab.run("lb2", Duration.ofSeconds(10), "ip", "-br", "addr", "show", "front").contains("198.18.0.100"));
            assertTrue(tandemctl(lab, "lb2", "backends").output().matches("(?s).*198.19.0.13:7000\\s+1 drained.*"),
                    "the new active keeps the drain");
            NamespaceLab.Outcome again = tandemctl(lab, "lb1", "failover");
            assertEquals(1, again.exit(), "a failover on the standby is refused: " + again.output());
            assertTrue(again.output().contains("not ACTIVE: nothing to hand over"), again.output());

            awaitInSync(lab, "lb2");
            NamespaceLab.Outcome takeover = tandemctl(lab, "lb1", "takeover");
            System.out.println("tandemctl takeover on lb1:\n" + takeover.output());
            assertEquals(0, takeover.exit(), takeover.output());
            assertTrue(takeover.output().contains("lb1 is ACTIVE, lb2 is STANDBY"), takeover.output());

            assertEveryFlowSurvived(lab, clients, 200, "tandemctl failover on lb1, then tandemctl takeover back", "");
        }
    }

    @Test
    void whenOnlyTandemdDiesKeepalivedsCheckHandsTheAddressesToThePeer() throws Exception {
        survivesFault("tpk", "SIGKILL of the active's tandemd only, keepalived's check fails", (lab, lb1) -> {
            lb1[0].destroyForcibly(); // tandemd only: keepalived on lb1 still runs and would stay master on its own
            lab.awaitLog("lb1-keepalived.log", "tandemd_alive", Duration.ofSeconds(10));
            assertTrue(lb1[1].isAlive(), "keepalived on lb1 lives on");
        });
    }

    /** 100 connections, then {@code fault} on lb1; lb2 must take over and every connection carry on. */
    private static void survivesFault(String prefix, String what, FaultAction fault) throws Exception {
        try (NamespaceLab lab = NamespaceLab.up(prefix, "scripts/lab-pair")) {
            Path key = lab.logs().resolve("sync.p12");
            SyncKeys.generate(key, "tandem".toCharArray());
            startEchoServers(lab);
            Process[] lb1 = startPair(lab, key);
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "100", "20", "15");
            NamespaceLab.await(() -> lab.lastFlows("lb2.log") >= 100, Duration.ofSeconds(20), () -> lab.log("lb2.log"));
            fault.apply(lab, lb1);
            lab.awaitLog("lb2.log", "-> ACTIVE", Duration.ofSeconds(10));
            assertEveryFlowSurvived(lab, clients, 100, what, "\nlb1 keepalived:\n" + lab.log("lb1-keepalived.log"));
        }
    }

    @FunctionalInterface
    private interface FaultAction {
        void apply(NamespaceLab lab, Process[] lb1) throws Exception;
    }

    @Test
    void whenOnlyTheActivesBackLinkGoesDownThePeerTakesOver() throws Exception {
        survivesFault("tpl", "the active's back link down", (lab, lb1) ->
                lab.run("lb1", Duration.ofSeconds(10), "ip", "link", "set", "back", "down"));
    }

    @Test
    void whenOnlyKeepalivedDiesOnTheActiveThePeerTakesOver() throws Exception {
        survivesFault("tpv", "SIGKILL of the active's keepalived only", (lab, lb1) -> lb1[1].destroyForcibly());
    }

    @Test
    void aSplitBrainIsSaidWhileItLastsAndHealsWithoutLosingFlows() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tpx", "scripts/lab-pair")) {
            Path key = lab.logs().resolve("sync.p12");
            SyncKeys.generate(key, "tandem".toCharArray());
            startEchoServers(lab);
            startPair(lab, key);
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "100", "20", "20");
            NamespaceLab.await(() -> lab.lastFlows("lb2.log") >= 100, Duration.ofSeconds(20), () -> lab.log("lb2.log"));

            // lb2 stops hearing VRRP (the sync link still works): both boxes become master.
            Path deaf = lab.logs().resolve("deaf.nft");
            Files.writeString(deaf, "table ip tandem_split {\n  chain input {\n    type filter hook input priority 0;\n"
                    + "    ip protocol vrrp drop\n  }\n}\n");
            lab.run("lb2", Duration.ofSeconds(10), "nft", "-f", deaf.toString());
            lab.awaitLog("lb1.log", "split brain: both boxes are ACTIVE", Duration.ofSeconds(15));
            NamespaceLab.Outcome status = tandemctl(lab, "lb1", "status");
            assertEquals(1, status.exit(), status.output());
            assertTrue(status.output().contains("split brain: both boxes are ACTIVE"), status.output());

            lab.run("lb2", Duration.ofSeconds(10), "nft", "delete", "table", "ip", "tandem_split");
            lab.awaitLog("lb1.log", "split brain over", Duration.ofSeconds(15));
            lab.awaitLog("lb2.log", "ACTIVE -> STANDBY", Duration.ofSeconds(15));
            assertEveryFlowSurvived(lab, clients, 100, "split brain: lb2 deaf to VRRP, then healed", "");
            awaitInSync(lab, "lb1");
        }
    }

    /**
     * Both boxes restarted together: the first one up has nobody to sync from. It becomes
     * master (priority 1 beats silence: someone must serve) but says it is not in sync, with
     * the reason, until the second one is up and has pulled its table.
     */
    @Test
    void afterBothBoxesRestartTheFirstUpServesButSaysItIsNotInSync() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tpr", "scripts/lab-pair")) {
            Path key = lab.logs().resolve("sync.p12");
            SyncKeys.generate(key, "tandem".toCharArray());
            startEchoServers(lab);
            startBox(lab, "lb1", 1, 2, 150, key);
            lab.awaitLog("lb1.log", "SYNCING -> ACTIVE", Duration.ofSeconds(30));
            NamespaceLab.Outcome alone = tandemctl(lab, "lb1", "status");
            assertEquals(1, alone.exit(), alone.output());
            assertTrue(alone.output().startsWith("NOT IN SYNC\n  - the peer is not connected on the sync link"), alone.output());
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "20", "20", "3");
            assertEquals(0, NamespaceLab.awaitExit(clients, Duration.ofSeconds(30)), "the box alone serves:\n" + lab.log("clients.log"));

            startBox(lab, "lb2", 2, 1, 100, key);
            lab.awaitLog("lb2.log", "-> STANDBY", Duration.ofSeconds(30));
            awaitInSync(lab, "lb1");
        }
    }

    @Test
    void aCutSyncLinkHoldsTheStandbyBackUntilTheTablesAgreeAgain() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tps", "scripts/lab-pair")) {
            Path key = lab.logs().resolve("sync.p12");
            SyncKeys.generate(key, "tandem".toCharArray());
            startEchoServers(lab);
            startPair(lab, key);

            lab.run("lb2", Duration.ofSeconds(10), "ip", "link", "set", "sync0", "down");
            lab.awaitLog("lb2.log", "STANDBY -> SYNCING", Duration.ofSeconds(15));
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "20", "20", "4");
            assertEquals(0, NamespaceLab.awaitExit(clients, Duration.ofSeconds(30)), lab.log("clients.log"));
            NamespaceLab.Outcome status = tandemctl(lab, "lb1", "status");
            System.out.println("tandemctl status on lb1 with the sync link cut:\n" + status.output());
            assertEquals(1, status.exit(), status.output());
            assertTrue(status.output().startsWith("NOT IN SYNC") && status.output().contains("the peer is not connected on the sync link"),
                    status.output());
            NamespaceLab.Outcome refused = tandemctl(lab, "lb1", "failover");
            System.out.println("tandemctl failover on lb1 with the sync link cut:\n" + refused.output());
            assertEquals(1, refused.exit(), refused.output());
            assertTrue(refused.output().contains("failover refused") && refused.output().contains("--force"), refused.output());
            assertTrue(lab.run("lb1", Duration.ofSeconds(10), "ip", "-br", "addr", "show", "front").contains("198.18.0.100"),
                    "the active keeps the VIP while its standby is out of sync, and after the refused failover");

            lab.run("lb2", Duration.ofSeconds(10), "ip", "link", "set", "sync0", "up");
            lab.awaitLog("lb2.log", "SYNCING -> STANDBY", Duration.ofSeconds(30));
            NamespaceLab.await(() -> lab.lastLine("lb2.log", "sync: role=").contains("digests_equal=true"), Duration.ofSeconds(20),
                    () -> lab.lastLine("lb2.log", "sync: role="));
            awaitInSync(lab, "lb1"); // and a failover would be allowed again

            // --force overrides the refusal and says what may be lost: lb1 goes to FAULT, the
            // held-back lb2 takes the addresses; a takeover on lb1 brings it back once in sync.
            lab.run("lb2", Duration.ofSeconds(10), "ip", "link", "set", "sync0", "down");
            NamespaceLab.await(() -> lab.log("lb2.log").split("STANDBY -> SYNCING", -1).length - 1 >= 2, Duration.ofSeconds(15),
                    () -> "lb2 SYNCING again:\n" + lab.log("lb2.log"));
            NamespaceLab.Outcome forced = tandemctl(lab, "lb1", "failover", "--force");
            System.out.println("tandemctl failover --force on lb1 with the sync link cut:\n" + forced.output());
            assertEquals(0, forced.exit(), forced.output());
            assertTrue(forced.output().contains("connections it lacks will be reset")
                    && forced.output().contains("  overridden: "), forced.output());
            lab.awaitLog("lb2.log", "SYNCING -> ACTIVE", Duration.ofSeconds(10)); // held back, yet master: lb1 is in FAULT
            lab.run("lb2", Duration.ofSeconds(10), "ip", "link", "set", "sync0", "up");
            awaitInSync(lab, "lb1");
            NamespaceLab.Outcome back = tandemctl(lab, "lb1", "takeover");
            assertEquals(0, back.exit(), back.output());
            assertTrue(back.output().contains("lb1 is ACTIVE, lb2 is STANDBY"), back.output());
        }
    }

    @Test
    void flowsSurviveAFailoverAfterTheBackendSetChangedBecauseTheirStateWasReplicated() throws Exception {
        String b3 = "      - { address: 198.19.0.13, port: 7000 }\n";
        try (NamespaceLab lab = NamespaceLab.up("tpb", "scripts/lab-pair")) {
            Path key = lab.logs().resolve("sync.p12");
            SyncKeys.generate(key, "tandem".toCharArray());
            startEchoServers(lab);
            Process[] lb1 = startBox(lab, "lb1", "lb1", 1, 2, 150, key, yaml -> yaml.replace(b3, ""));
            lab.awaitLog("lb1.log", "-> ACTIVE", Duration.ofSeconds(30));
            Process[] lb2 = startBox(lab, "lb2", "lb2", 2, 1, 100, key, yaml -> yaml.replace(b3, ""));
            lab.awaitLog("lb2.log", "-> STANDBY", Duration.ofSeconds(30));

            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "100", "20", "15");
            NamespaceLab.await(() -> lab.lastFlows("lb2.log") >= 100, Duration.ofSeconds(20), () -> lab.log("lb2.log"));

            // A third backend joins both boxes: Maglev now maps about a third of the hash space to
            // it, so a box that picked backends afresh would send those flows to b3 and break them.
            for (String box : List.of("lb1", "lb2")) {
                Path config = lab.logs().resolve(box + ".yaml");
                Files.writeString(config, Files.readString(config).replace("      - { address: 198.19.0.12, port: 7000 }\n",
                        "      - { address: 198.19.0.12, port: 7000 }\n" + b3));
                long pid = (box.equals("lb1") ? lb1 : lb2)[0].pid();
                lab.run(box, Duration.ofSeconds(10), "kill", "-HUP", Long.toString(pid));
                lab.awaitLog(box + ".log", "reload: 1 services in force", Duration.ofSeconds(20));
            }

            killHard(lab, "lb1", lb1);
            lab.awaitLog("lb2.log", "-> ACTIVE", Duration.ofSeconds(10));

            assertEveryFlowSurvived(lab, clients, 100, "after a backend was added", "");
        }
    }
}
