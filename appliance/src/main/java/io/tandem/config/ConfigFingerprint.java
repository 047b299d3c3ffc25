package io.tandem.config;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * A short, stable hash of the services section (records print every field in order): equal on
 * two boxes exactly when they serve the same services with the same backends and settings.
 */
public final class ConfigFingerprint {
    private ConfigFingerprint() {
    }

    public static String of(List<ServiceConfig> services) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(services.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
