package io.tandem.statesync;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The pair's sync credential: one EC P-256 key pair with its self-signed certificate in a
 * PKCS12 keystore (alias {@code tandem-sync}), created once by {@code tandemctl keygen} and
 * copied to both boxes. Each box presents it and trusts only it (mutual TLS, {@link SyncTls}):
 * a connection from anyone who does not hold the pair's private key fails its handshake.
 *
 * <p>The keystore's password is random, printed once by keygen and given to both boxes'
 * configs ({@code sync.key_password}); there is no default. The file is checked on load: a
 * regular file, mode 0600 or 0400, owned by the user tandemd runs as (or root).
 */
public final class SyncKeys {
    public static final String ALIAS = "tandem-sync";
    /** The shortest password a key is opened with: keygen makes 32 characters. */
    public static final int MIN_PASSWORD = 16;
    private static final Set<PosixFilePermission> OWNER_ONLY = EnumSet.of(PosixFilePermission.OWNER_READ,
            PosixFilePermission.OWNER_WRITE);

    private SyncKeys() {
    }

    /** A new random keystore password: 24 random bytes, base64url (32 characters). */
    public static String newPassword() {
        byte[] bytes = new byte[24];
        new SecureRandom().nextBytes(bytes);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    /**
     * Writes a new credential to {@code file}, which must not exist yet. The JDK's keytool makes
     * the key pair and the certificate (the JDK has no public API for a certificate) in a
     * directory only root can read; the file reaches its place with mode 0600.
     */
    public static void generate(Path file, char[] password) throws IOException, GeneralSecurityException {
        if (Files.exists(file)) {
            throw new IOException(file + " exists; a new key would lock the peer out");
        }
        Path dir = Files.createTempDirectory(file.toAbsolutePath().getParent(), ".tandem-keygen",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path made = dir.resolve("sync.p12");
        try {
            String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
            ProcessBuilder pb = new ProcessBuilder(keytool, "-genkeypair", "-alias", ALIAS, "-keyalg", "EC", "-groupname", "secp256r1",
                    "-sigalg", "SHA256withECDSA", "-dname", "CN=tandem-sync", "-validity", "36500", "-storetype", "PKCS12",
                    "-keystore", made.toString(), "-storepass:env", "TANDEM_KEY_PASSWORD", "-keypass:env", "TANDEM_KEY_PASSWORD")
                    .redirectErrorStream(true);
            pb.environment().put("TANDEM_KEY_PASSWORD", new String(password)); // not on the command line, where ps shows it
            Process p = pb.start();
            String output;
            try (InputStream in = p.getInputStream()) {
                output = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0 || !Files.exists(made)) {
                p.destroyForcibly();
                throw new GeneralSecurityException("keytool could not make the key: " + output.strip());
            }
            Files.setPosixFilePermissions(made, OWNER_ONLY);
            Files.move(made, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while making the key", e);
        } finally {
            Files.deleteIfExists(made);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * Opens the credential, after checking the file: its mode, its owner, the password, and
     * that it is a key pair (not the AES key of the releases before TLS). Every failure names
     * the file and what to do.
     */
    public static KeyStore load(Path file, String password) throws IOException, GeneralSecurityException {
        if (password == null || password.length() < MIN_PASSWORD) {
            throw new GeneralSecurityException("sync.key_password: the password 'tandemctl keygen' printed is required (at least "
                    + MIN_PASSWORD + " characters); there is no default");
        }
        PosixFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, PosixFileAttributes.class);
        } catch (IOException e) {
            throw new IOException("sync key " + file + " is missing or unreadable (" + e.getMessage() + "): create it once with "
                    + "'tandemctl keygen' and copy it to both boxes");
        }
        if (!attributes.isRegularFile()) {
            throw new IOException("sync key " + file + " is not a regular file");
        }
        Set<PosixFilePermission> extra = EnumSet.copyOf(attributes.permissions());
        extra.removeAll(OWNER_ONLY);
        if (!extra.isEmpty()) {
            throw new IOException("sync key " + file + " has mode " + PosixFilePermissions.toString(attributes.permissions())
                    + ": it holds the pair's private key, so no one but its owner may read it (chmod 600 " + file + ")");
        }
        String owner = attributes.owner().getName();
        String self = System.getProperty("user.name");
        if (!owner.equals(self) && !owner.equals("root")) {
            throw new IOException("sync key " + file + " is owned by " + owner + ", not by " + self
                    + " (tandemd's user) or root (chown " + self + " " + file + ")");
        }
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            store.load(in, password.toCharArray());
        } catch (IOException e) {
            throw new GeneralSecurityException("sync key " + file + " does not open with sync.key_password (" + e.getMessage()
                    + "): both boxes need the password 'tandemctl keygen' printed for this file");
        }
        if (store.isKeyEntry(ALIAS) && store.getCertificate(ALIAS) == null) {
            throw new GeneralSecurityException("sync key " + file + " is the AES key of a release before TLS sync: make a new one"
                    + " with 'tandemctl keygen', copy it to both boxes and upgrade both (until then they cannot sync)");
        }
        if (!store.isKeyEntry(ALIAS) || store.getCertificate(ALIAS) == null) {
            throw new GeneralSecurityException("sync key " + file + " holds no key pair '" + ALIAS + "': make it with 'tandemctl keygen'");
        }
        return store;
    }
}
