package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.lab.NamespaceLab;
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
 * Two tandemd processes joined by state sync in the namespace lab: live flows through the
 * active appear in the standby's table with equal digests, and a standby killed with
 * SIGKILL and restarted pulls the whole table before serving.
 */
class SyncPairIT {
    private static String config(String node, String bind, String peer, Object key, String role) {
        return TestConfig.box(node).dataplane("queues: 1", "stats_interval: 500ms").conntrack("max_flows: 65536")
                .section(PairLab.sync(bind, peer, key) + "  role: " + role + "\n")
                .services(TestConfig.Service.web(2)).yaml();
    }
    /** Each box its own control socket: the namespaces share one file system. */
    private static String control(NamespaceLab lab, String box) {
        return "control: { socket: " + lab.logs().resolve(box + ".sock") + ", http: \"off\" }\n";
    }

    /** Backends b1 and b2, lb1 (active) and lb2 (standby) connected over the sync link; returns lb2's process. */
    private static Process startSyncedPair(NamespaceLab lab) throws Exception {
        Path key = PairLab.newKey(lab);
        Path lb1 = lab.logs().resolve("lb1.yaml");
        Path lb2 = lab.logs().resolve("lb2.yaml");
        Files.writeString(lb1, config("lb1", "198.18.2.1", "198.18.2.2", key, "active") + control(lab, "lb1"));
        Files.writeString(lb2, config("lb2", "198.18.2.2", "198.18.2.1", key, "standby") + control(lab, "lb2"));
        String tandemd = lab.root().resolve("appliance/target/tandem/bin/tandemd").toString();
        for (String b : List.of("b1", "b2")) {
            lab.traffic(b, b + ".log", "tcp-server", "8080", b, "120");
            lab.awaitLog(b + ".log", "listening", Duration.ofSeconds(30));
        }
        lab.start("lb", "lb1.log", tandemd, "--config", lb1.toString());
        lab.awaitLog("lb1.log", "running", Duration.ofSeconds(30));
        Process standby = lab.start("lb2", "lb2.log", tandemd, "--config", lb2.toString());
        lab.awaitLog("lb2.log", "running", Duration.ofSeconds(30));
        NamespaceLab.await(() -> lab.lastLine("lb1.log", "sync: role=").contains("connected=true"), Duration.ofSeconds(30),
                () -> "the pair connected:\n" + lab.log("lb1.log"));
        return standby;
    }

    @Test
    void theStandbyHoldsTheActivesLiveFlowsAndResyncsAfterACrash() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tsp")) {
            Process standby = startSyncedPair(lab);
            Path lb2 = lab.logs().resolve("lb2.yaml");
            String tandemd = lab.root().resolve("appliance/target/tandem/bin/tandemd").toString();

            // 60 connections held open 10 s each, through the active only.
            Process clients = lab.traffic("client", "clients.log", "tcp-clients", "198.18.0.100", "80", "60", "4096", "10000", "60");
            NamespaceLab.await(() -> lab.lastFlows("lb1.log") >= 60, Duration.ofSeconds(20), () -> lab.log("lb1.log"));
            NamespaceLab.await(() -> lab.lastFlows("lb2.log") >= 60
                            && lab.lastLine("lb2.log", "sync: role=").contains("digests_equal=true"),
                    Duration.ofSeconds(20), () -> "the standby holding the flows, digests equal:\n" + lab.log("lb2.log"));

            standby.destroyForcibly(); // SIGKILL: the standby loses its table
            NamespaceLab.awaitExit(standby, Duration.ofSeconds(10));
            lab.start("lb2", "lb2-restarted.log", tandemd, "--config", lb2.toString());
            lab.awaitLog("lb2-restarted.log", "full table received from the peer", Duration.ofSeconds(30));
            String transfer = lab.lastLine("lb2-restarted.log", "full table received");
            Matcher m = Pattern.compile("received from the peer: (\\d+) flows").matcher(transfer);
            assertTrue(m.find() && Integer.parseInt(m.group(1)) >= 60, transfer);
            lab.awaitLog("lb2-restarted.log", "running", Duration.ofSeconds(30));
            String restarted = lab.log("lb2-restarted.log");
            assertTrue(restarted.indexOf("full table received") < restarted.indexOf("serving 1 services"),
                    "the table arrived before the restarted box started serving:\n" + restarted);
            NamespaceLab.await(() -> lab.lastLine("lb2-restarted.log", "sync: role=").contains("digests_equal=true"),
                    Duration.ofSeconds(20), () -> lab.log("lb2-restarted.log"));

            assertEquals(0, NamespaceLab.awaitExit(clients, Duration.ofSeconds(60)), lab.log("clients.log"));
        }
    }

    @Test
    void theSyncLinkFlapsDuringHeavyFlowCreationAndTheDigestsConvergeAfterwards() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tsl")) {
            startSyncedPair(lab);

            // New connections as fast as 32 clients go, while the sync link goes down and up twice.
            Process churn = lab.traffic("client", "churn.log", "conn-rate", "198.18.0.100", "80", "32", "25");
            for (int flap = 0; flap < 2; flap++) {
                lab.run("lb2", Duration.ofSeconds(10), "ip", "link", "set", "sync0", "down");
                NamespaceLab.await(() -> lab.lastLine("lb1.log", "sync: role=").contains("connected=false"), Duration.ofSeconds(20),
                        () -> "lb1 sees the peer gone: " + lab.lastLine("lb1.log", "sync: role="));
                lab.run("lb2", Duration.ofSeconds(10), "ip", "link", "set", "sync0", "up");
                NamespaceLab.await(() -> lab.lastLine("lb1.log", "sync: role=").contains("connected=true"), Duration.ofSeconds(30),
                        () -> "lb1 sees the peer back: " + lab.lastLine("lb1.log", "sync: role="));
            }
            NamespaceLab.awaitExit(churn, Duration.ofSeconds(60));
            String rate = lab.log("churn.log").strip();
            NamespaceLab.await(() -> lab.lastLine("lb2.log", "sync: role=").contains("digests_equal=true")
                            && lab.lastLine("lb1.log", "sync: role=").contains("digests_equal=true")
                            && lab.lastFlows("lb1.log") == lab.lastFlows("lb2.log"),
                    Duration.ofSeconds(30), () -> "digests converge: lb1 " + lab.lastFlows("lb1.log") + " flows, lb2 "
                            + lab.lastFlows("lb2.log") + "\n" + lab.lastLine("lb2.log", "sync: role="));
            System.out.println("sync link flapped twice under " + rate + ": digests equal afterwards, "
                    + lab.lastFlows("lb2.log") + " flows on both; " + lab.lastLine("lb2.log", "range_resyncs=").replaceAll(".*(range_resyncs=\\d+).*", "$1"));
        }
    }
}
