package io.tandem.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TandemCtlTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new TandemCtl()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void keygenWritesAPrivateKeyOnceAndNeverOverwrites() throws Exception {
        Path key = dir.resolve("sync.p12");
        assertEquals(0, run("keygen", key.toString()).exit());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key)));
        byte[] first = Files.readAllBytes(key);
        Run again = run("keygen", key.toString());
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("exists; a new key would lock the peer out"), again.err());
        assertEquals(first.length, Files.readAllBytes(key).length);
    }

    @Test
    void routingPrintsTheRulesForTheShippedConfig() {
        Run r = run("routing", "src/main/dist/tandem.yaml");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("ip rule add pref 100 iif eth0 to 198.18.0.100/32 ipproto tcp lookup 100"), r.out());
        assertTrue(r.out().contains("ip rule add pref 101 iif eth1 to 198.19.0.100/32 ipproto icmp lookup 100"), r.out());
        assertTrue(r.out().contains("ip route replace default dev tandem0 table 100"), r.out());
        Run bad = run("routing", dir.resolve("missing.yaml").toString());
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains("cannot read"), bad.err());
    }
}
