package io.tandem.statesync;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;

/**
 * The pair's shared sync key: an AES-256 key in a PKCS12 keystore (alias {@code tandem-sync}),
 * created once and copied to both boxes. The file, mode 0600, is what protects the key; the
 * keystore password only satisfies the format.
 */
public final class SyncKeys {
    public static final String ALIAS = "tandem-sync";

    private SyncKeys() {
    }

    /** Writes a new key to {@code file}, which must not exist yet. */
    public static void generate(Path file, char[] password) throws IOException, GeneralSecurityException {
        KeyGenerator generator = KeyGenerator.getInstance("AES");
        generator.init(256);
        SecretKey key = generator.generateKey();
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, password);
        store.setEntry(ALIAS, new KeyStore.SecretKeyEntry(key), new KeyStore.PasswordProtection(password));
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try (OutputStream out = Files.newOutputStream(file, StandardOpenOption.TRUNCATE_EXISTING)) {
            store.store(out, password);
        }
    }
}
