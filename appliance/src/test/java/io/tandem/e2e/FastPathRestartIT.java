package io.tandem.e2e;

import io.tandem.TestConfig;
import io.tandem.dataplane.fastpath.FastPathProgram;
import io.tandem.lab.NamespaceLab;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Restarts of tandemd in a keepalived pair whose boxes run the fast path with their flow maps
 * pinned (each on its own directory of a bpffs the test mounts), under 200 connections echoing
 * every 20 ms, half to the IPv4 VIP and half to the IPv6 one (both flow maps pinned):
 * <ol>
 *   <li>the active's tandemd restarted (SIGTERM, then start) and then killed (SIGKILL, then
 *       start): the kernel carries the flows meanwhile, keepalived's check lets the short
 *       silence pass, and each new tandemd resumes as master — no failover, nothing lost;</li>
 *   <li>the standby's tandemd restarted and the active killed hard 0.5 s later, before the new
 *       tandemd is even up: the standby's kernel already forwards every replicated flow, so its
 *       keepalived takes the addresses and every connection carries on.</li>
 * </ol>
 */
class FastPathRestartIT {
    private static final int CONNECTIONS = 200;
    private static final Pattern FAST = Pattern.compile("fast path: forwarded=(\\d+) flows_installed=(\\d+)");

    @Test
    void restartsOfEitherBoxsTandemdLoseNoFlowAndTheActivesCauseNoFailover() throws Exception {
        Path bpffs = Files.createTempDirectory("tandem-bpffs");
        run("mount", "-t", "bpf", "bpf", bpffs.toString());
        try (NamespaceLab lab = NamespaceLab.up("tfr", "scripts/lab-pair")) {
            Path key = PairLab.newKey(lab);
            PairLab.startEchoServers(lab);
            Process[][] boxes = PairLab.startPair(lab, key, yaml -> Ipv6PairFailoverIT.withEcho6(TestConfig.withoutDefaultPins(yaml).replace("  stats_interval: 500ms\n",
                    "  stats_interval: 500ms\n  fast_path: on\n  fast_path_pin_dir: "
                            + bpffs.resolve(yaml.contains("lb1.track") ? "lb1" : "lb2") + "\n")));
            Process[] lb1 = boxes[0];
            Process[] lb2 = boxes[1];
            Process clients = lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000",
                    Integer.toString(CONNECTIONS / 2), "20", "70");
            Process clients6 = lab.traffic("client", "clients6.log", "echo-clients", Ipv6PairFailoverIT.VIP6, "7000",
                    Integer.toString(CONNECTIONS / 2), "20", "70");
            NamespaceLab.await(() -> installed(lab, "lb2.log") >= CONNECTIONS && installed(lab, "lb1.log") >= CONNECTIONS,
                    Duration.ofSeconds(30), () -> "both boxes' fast paths hold the flows:\n" + lab.lastLine("lb1.log", "fast path:")
                            + "\n" + lab.lastLine("lb2.log", "fast path:"));
            PairLab.awaitInSync(lab, "lb1");

            // 1a. The active's tandemd restarted.
            lb1[0].destroy();
            assertEquals(143, NamespaceLab.awaitExit(lb1[0], Duration.ofSeconds(20)), lab.log("lb1.log"));
            assertTrue(lab.log("lb1.log").contains("the box is not held back"), lab.log("lb1.log"));
            Process restarted = PairLab.startTandemd(lab, "lb1", "lb1-restarted");
            assertResumed(lab, "lb1-restarted");

            // keepalived's check has heard the new tandemd (it counts the silence since the last answer)
            Path downSince = NamespaceLab.downSince(lab.logs().resolve("lb1.pid"));
            NamespaceLab.await(() -> !Files.exists(downSince), Duration.ofSeconds(10), () -> "lb1's check hears tandemd again");

            // 1b. … and killed, then started.
            restarted.destroyForcibly();
            NamespaceLab.awaitExit(restarted, Duration.ofSeconds(20));
            Process again = PairLab.startTandemd(lab, "lb1", "lb1-again");
            assertResumed(lab, "lb1-again");
            PairLab.awaitInSync(lab, "lb1");
            assertFalse(lab.log("lb2.log").contains("-> ACTIVE"), "no failover: lb2 never became active\n" + lab.log("lb2.log"));
            assertTrue(lab.run("lb1", Duration.ofSeconds(10), "ip", "-br", "addr", "show", "front").contains("198.18.0.100"),
                    "the VIP stayed on lb1");
            NamespaceLab.await(() -> installed(lab, "lb2.log") >= CONNECTIONS, Duration.ofSeconds(20),
                    () -> "the standby's fast path, resynced: " + lab.lastLine("lb2.log", "fast path:"));

            // 2. The standby's tandemd restarted, and the active killed hard 0.5 s later.
            lb2[0].destroy();
            assertEquals(143, NamespaceLab.awaitExit(lb2[0], Duration.ofSeconds(20)), lab.log("lb2.log"));
            long killAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500); // the scenario: the active dies 0.5 s into the restart
            NamespaceLab.await(() -> System.nanoTime() >= killAt, Duration.ofSeconds(2), () -> "0.5 s after the standby's stop");
            PairLab.killHard(lab, "lb1", new Process[] {again, lb1[1]});
            lab.awaitLog("lb2-keepalived.log", "Entering MASTER STATE", Duration.ofSeconds(15));
            PairLab.startTandemd(lab, "lb2", "lb2-restarted");
            lab.awaitLog("lb2-restarted.log", "-> ACTIVE", Duration.ofSeconds(20));
            Matcher adopted = Pattern.compile("adopted (\\d+) flows").matcher(lab.log("lb2-restarted.log"));
            assertTrue(adopted.find() && Integer.parseInt(adopted.group(1)) >= CONNECTIONS, lab.log("lb2-restarted.log"));

            PairLab.assertEveryFlowSurvived(lab, clients, CONNECTIONS / 2,
                    "fast path: the active's tandemd restarted and killed, then the standby's restarted and the active killed",
                    "\nlb2-restarted:\n" + lab.log("lb2-restarted.log"));
            Ipv6PairFailoverIT.assertSurvived(lab, clients6, "clients6.log", CONNECTIONS / 2, "IPv6, fast path restarts",
                    "\nlb2-restarted:\n" + lab.log("lb2-restarted.log"));
            assertTrue(Files.exists(bpffs.resolve("lb2").resolve("flows6")), "the IPv6 flow map pinned");
        } finally {
            run("umount", bpffs.toString());
            Files.deleteIfExists(bpffs);
        }
    }

    /**
     * Issue 29, point 9: the kernel's copy on a box that starts into a pair, and after a pinned
     * restart, under five UDP streams that then end. lb1 carries them; lb2 starts after them and
     * pulls lb1's table before its fast path attaches — its kernel must hold them at once, not
     * when they next change (they never do). lb1's tandemd is restarted with its map pinned: it
     * pulls lb2's copies (whose versions beat the kernel's 0) before it adopts, and the kernel's
     * entries must become those flows' — "adopted 5" meaning five flows own entries, not five
     * entries visited. When the streams end, the flows expire and every kernel entry goes with
     * them, on both boxes (before the fix, lb1's table let them expire and gave their SNAT ports
     * to new flows while the kernel went on forwarding with the old entries, for good).
     */
    @Test
    void kernelEntriesAlwaysBelongToAFlowOfTheTableAndGoWithIt() throws Exception {
        Path bpffs = Files.createTempDirectory("tandem-bpffs");
        run("mount", "-t", "bpf", "bpf", bpffs.toString());
        try (NamespaceLab lab = NamespaceLab.up("tfk", "scripts/lab-pair")) {
            Path key = PairLab.newKey(lab);
            for (String b : List.of("b1", "b2")) {
                lab.traffic(b, b + "-udp.log", "udp-server", "5300", b, "150");
                lab.awaitLog(b + "-udp.log", "listening", Duration.ofSeconds(30));
            }
            UnaryOperator<String> edit = yaml -> TestConfig.withoutDefaultPins(yaml).replace("  stats_interval: 500ms\n",
                            "  stats_interval: 500ms\n  fast_path: on\n  fast_path_pin_dir: " + bpffs.resolve(yaml.contains("lb1.track") ? "lb1" : "lb2") + "\n")
                    .replace("  max_flows: 65536\n", "  max_flows: 65536\n  timeouts: { udp_unreplied: 3s, udp_assured: 4s }\n")
                    + TestConfig.box("x").services(new TestConfig.Service("stream", TestConfig.VIP, 5300).protocol("udp")
                            .backend("198.19.0.11", 5300).backend("198.19.0.12", 5300)).yaml().replaceFirst("(?s).*?services:\n", "");
            Process[] lb1 = PairLab.startBox(lab, "lb1", "lb1", 1, 2, 150, key, edit);
            lab.awaitLog("lb1.log", "-> ACTIVE", Duration.ofSeconds(30));
            List<Process> streams = new ArrayList<>();
            for (int i = 0; i < STREAMS; i++) {
                streams.add(lab.traffic("client", "stream" + i + ".log", "udp-stream", "198.18.0.100", "5300", "20", "30"));
            }
            NamespaceLab.await(() -> installed(lab, "lb1.log") >= STREAMS, Duration.ofSeconds(20), () -> lab.lastLine("lb1.log", "fast path:"));

            PairLab.startBox(lab, "lb2", "lb2", 2, 1, 100, key, edit);
            lab.awaitLog("lb2.log", "-> STANDBY", Duration.ofSeconds(30));
            PairLab.awaitInSync(lab, "lb1");
            Path lb1Map = bpffs.resolve("lb1/flows4");
            Path lb2Map = bpffs.resolve("lb2/flows4");
            NamespaceLab.await(() -> entries(lb2Map) == 2 * STREAMS, Duration.ofSeconds(5),
                    () -> "lb2's kernel holds the streams it pulled at start: " + entries(lb2Map) + " entries\n" + lab.log("lb2.log"));

            lb1[0].destroy();
            assertEquals(143, NamespaceLab.awaitExit(lb1[0], Duration.ofSeconds(20)), lab.log("lb1.log"));
            PairLab.startTandemd(lab, "lb1", "lb1-restarted");
            String restarted = lab.log("lb1-restarted.log");
            assertTrue(restarted.contains("resuming as master"), restarted);
            Matcher adopted = Pattern.compile("adopted (\\d+) flows the kernel kept forwarding").matcher(restarted);
            assertTrue(adopted.find() && Integer.parseInt(adopted.group(1)) == STREAMS, restarted);
            Matcher owners = Pattern.compile("\\((\\d+) taken in, (\\d+) the table held already from the peer\\)").matcher(restarted);
            assertTrue(owners.find() && Integer.parseInt(owners.group(1)) + Integer.parseInt(owners.group(2)) == STREAMS,
                    "each adopted flow owns its entries: " + restarted);
            System.out.println("Pinned restart under UDP streams: lb1 " + lab.lastLine("lb1-restarted.log", "flows the kernel kept forwarding"));

            for (Process stream : streams) {
                assertEquals(0, NamespaceLab.awaitExit(stream, Duration.ofSeconds(60)));
            }
            // The streams ended: 4 s idle and they expire, and their kernel entries go with them, on both boxes.
            NamespaceLab.await(() -> entries(lb1Map) == 0 && entries(lb2Map) == 0, Duration.ofSeconds(30),
                    () -> "kernel entries left: lb1 " + entries(lb1Map) + ", lb2 " + entries(lb2Map) + "\n" + lab.lastLine("lb1-restarted.log", "flows="));
        } finally {
            run("umount", bpffs.toString());
            Files.deleteIfExists(bpffs);
        }
    }

    private static final int STREAMS = 5;

    private static int entries(Path pinnedMap) {
        try {
            return FastPathProgram.pinnedEntries(pinnedMap);
        } catch (FastPathProgram.FastPathException e) {
            return -1;
        }
    }

    private static void assertResumed(NamespaceLab lab, String log) {
        String text = lab.log(log + ".log");
        assertTrue(text.contains("resuming as master"), text);
        Matcher adopted = Pattern.compile("adopted (\\d+) flows").matcher(text);
        assertTrue(adopted.find() && Integer.parseInt(adopted.group(1)) >= CONNECTIONS, text);
        assertFalse(text.contains("-> SYNCING"), "a resumed master is never held back:\n" + text);
    }

    private static long installed(NamespaceLab lab, String log) {
        Matcher m = FAST.matcher(lab.lastLine(log, "fast path: forwarded="));
        return m.find() ? Long.parseLong(m.group(2)) : -1;
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), String.join(" ", command));
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + new String(p.getInputStream().readAllBytes()));
    }
}
