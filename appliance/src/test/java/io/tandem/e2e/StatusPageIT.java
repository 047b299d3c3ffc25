package io.tandem.e2e;

import io.tandem.lab.NamespaceLab;
import io.tandem.lab.PageCheck;
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
 * the screenshot taken in sync is kept there (docs/operations.md shows it).
 */
class StatusPageIT {
    /** A box of {@link PairLab}'s pair with its HTTP server on and two backends. */
    private static void startBox(NamespaceLab lab, String name, int self, int peer, int priority, Path key) throws Exception {
        PairLab.startBox(lab, name, name, self, peer, priority, key, yaml -> yaml
                .replace("http: \"off\"", "http: \"127.0.0.1:9180\"")
                .replace("      - { address: 198.19.0.13, port: 7000 }\n", ""));
    }

    @Test
    void thePageShowsBothRolesInSyncAndTurnsNotInSyncWhenTheSyncLinkIsCut() throws Exception {
        try (NamespaceLab lab = NamespaceLab.up("tsw", "scripts/lab-pair")) {
            Path key = PairLab.newKey(lab);
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
