package io.tandem.cli;

import io.tandem.statesync.SyncKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
        Run made = run("keygen", key.toString());
        assertEquals(0, made.exit(), made.err());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key)));
        Matcher password = Pattern.compile("key_password: (\\S+)").matcher(made.out());
        assertTrue(password.find(), made.out());
        KeyStore store = SyncKeys.load(key, password.group(1)); // the printed password opens it: a key pair and its certificate
        assertTrue(store.isKeyEntry(SyncKeys.ALIAS) && store.getCertificate(SyncKeys.ALIAS) != null);
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r--r--"));
        IOException open = assertThrows(IOException.class, () -> SyncKeys.load(key, password.group(1)));
        assertTrue(open.getMessage().contains("no one but its owner may read it (chmod 600"), open.getMessage());
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        GeneralSecurityException wrong = assertThrows(GeneralSecurityException.class, () -> SyncKeys.load(key, "not-the-password-at-all"));
        assertTrue(wrong.getMessage().contains("does not open with sync.key_password"), wrong.getMessage());
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
