package io.tandem.e2e;

import io.tandem.config.ConfigLoader;
import io.tandem.ha.KeepalivedConfig;
import io.tandem.lab.NamespaceLab;
import io.tandem.lab.PageCheck;
import io.tandem.statesync.SyncKeys;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The status page of a running pair in a real browser (headless Chromium, inside lb1's
 * namespace): it shows both roles and IN SYNC; the sync link is cut; the page turns to NOT
 * IN SYNC by itself, without a reload. With {@code -Dtandem.screenshot=docs/status-page.png}
 * the screenshot taken in sync is kept there (the README shows it).
 */
class StatusPageIT {
    private static final String CONFIG = """
            node: { name: %1$s }
            dataplane: { front_interface: front, back_interface: back, queues: 1, stats_interval: 1s }
            conntrack: { max_flows: 65536 }
            sync: { bind_address: 198.18.2.%2$d, peer: 198.18.2.%3$d, key_file: %4$s, digest_interval: 300ms }
            ha: { virtual_router_id: 51, priority: %5$d, self_address: 198.18.0.%2$d, peer_address: 198.18.0.%3$d,
                  track_file: %6$s/%1$s.track, notify_fifo: %6$s/%1$s.fifo, check_script: %7$s }
            control: { socket: %6$s/%1$s.sock, http: "127.0.0.1:9180" }
            services:
              - name: echo
                vip: 198.18.0.100
                port: 7000
                snat_address: 198.19.0.100
                backends: [ { address: 198.19.0.11, port: 7000 }, { address: 198.19.0.12, port: 7000 } ]
            """;

    private static void startBox(NamespaceLab lab, String name, int self, int peer, int priority, Path key) throws Exception {
        Path config = lab.logs().resolve(name + ".yaml");
        Files.writeString(config, CONFIG.formatted(name, self, peer, key, priority, lab.logs(), lab.checkScript()));
        Path keepalivedConf = lab.logs().resolve(name + "-keepalived.conf");
        Files.writeString(keepalivedConf, KeepalivedConfig.render(ConfigLoader.load(config)));
        lab.start(name, name + ".log", lab.root().resolve("appliance/target/tandem/bin/tandemd").toString(), "--config", config.toString());
        lab.awaitLog(name + ".log", "running", Duration.ofSeconds(60));
        lab.start(name, name + "-keepalived.log", "keepalived", "--dont-fork", "--log-console", "--vrrp", "-f", keepalivedConf.toString(),
                "-p", lab.logs().resolve(name + "-keepalived.pid").toString(), "-r", lab.logs().resolve(name + "-vrrp.pid").toString());
    }

    @Test
    void thePageShowsBothRolesInSyncAndTurnsNotInSyncWhenTheSyncLinkIsCut() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tsw", "scripts/lab-pair")) {
            Path key = lab.logs().resolve("sync.p12");
            SyncKeys.generate(key, "tandem".toCharArray());
            startBox(lab, "lb1", 1, 2, 150, key);
            lab.awaitLog("lb1.log", "-> ACTIVE", Duration.ofSeconds(30));
            startBox(lab, "lb2", 2, 1, 100, key);
            lab.awaitLog("lb2.log", "-> STANDBY", Duration.ofSeconds(30));
            lab.traffic("b1", "b1.log", "echo-server", "7000", "90");
            lab.awaitLog("b1.log", "listening", Duration.ofSeconds(30));
            lab.traffic("client", "clients.log", "echo-clients", "198.18.0.100", "7000", "20", "50", "60");

            Path shot = lab.logs().resolve("status-page.png");
            List<String> argv = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp", System.getProperty("java.class.path"), PageCheck.class.getName(), "http://127.0.0.1:9180/", shot.toString(), "60"));
            Process browser = lab.start("lb1", "browser.log", argv.toArray(String[]::new));
            lab.awaitLog("browser.log", "seen in-sync", Duration.ofSeconds(90));
            String seen = lab.log("browser.log");
            assertTrue(seen.contains("seen in-sync self=ACTIVE peer=STANDBY detail='safe to fail over'"), seen);
            assertTrue(seen.contains("http 200 http://127.0.0.1:9180/api/flows?limit=2 {\"ok\":true"), seen);
            assertTrue(seen.matches("(?s).*http 200 http://127.0.0.1:9180/metrics tandem_\\w+ .*"), seen);

            lab.run("lb2", Duration.ofSeconds(10), "ip", "link", "set", "sync0", "down");
            assertEquals(0, NamespaceLab.awaitExit(browser, Duration.ofSeconds(90)), lab.log("browser.log"));
            String after = lab.log("browser.log");
            System.out.println("status page in a browser:\n" + after);
            assertTrue(after.contains("seen not-in-sync") && after.contains("same-page=true"), "turned without a reload:\n" + after);
            assertTrue(Files.size(shot) > 10_000, "a screenshot of the page");
            String keep = System.getProperty("tandem.screenshot");
            if (keep != null && !keep.isBlank()) {
                Files.copy(shot, lab.root().resolve(keep), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
