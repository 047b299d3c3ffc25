package io.tandem.statesync;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.Socket;
import java.net.SocketAddress;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Mutual TLS 1.3 for the sync link (RFC 8446): each box presents the pair's certificate and
 * accepts a peer only if it presents that very certificate — pinned, not a CA's word — so a
 * connection completes only between holders of the pair's private key. TLS then gives the
 * frames above it what SYM_ENCRYPT did not: integrity (AEAD) and, per connection, replay
 * protection (record sequence numbers); a captured stream replayed on a new connection fails
 * the new handshake. Every protocol of the JGroups stack runs inside it.
 *
 * <p>Rejections are counted ({@link #rejected()}) and logged: a peer without a certificate,
 * with another one, or speaking no TLS at all (the last two fail in the handshake, the first
 * here).
 */
public final class SyncTls {
    /** TLS 1.3 only: no version the pair would not choose anyway, nothing to downgrade to. */
    static final String[] PROTOCOLS = {"TLSv1.3"};
    private static final Logger LOG = LoggerFactory.getLogger(SyncTls.class);
    /** A refusal is logged at most this often (the count says the rest): a flood must not fill the log. */
    private static final long LOG_EVERY_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final SSLContext context;
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong lastLogged = new AtomicLong(System.nanoTime() - LOG_EVERY_NANOS);

    private SyncTls(KeyStore store, String password) throws GeneralSecurityException {
        X509Certificate pair = (X509Certificate) store.getCertificate(SyncKeys.ALIAS);
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(store, password.toCharArray());
        context = SSLContext.getInstance("TLSv1.3");
        context.init(keys.getKeyManagers(), new X509ExtendedTrustManager[] {new PinnedTrust(pair)}, null);
    }

    /** The TLS of the pair whose credential is {@code store} (see {@link SyncKeys#load}). */
    public static SyncTls of(KeyStore store, String password) throws GeneralSecurityException {
        return new SyncTls(store, password);
    }

    public SSLContext context() {
        return context;
    }

    /** Connections refused: no TLS, not the pair's certificate, too slow, too many at once. */
    public long rejected() {
        return rejected.get();
    }

    /** Counts a refused connection and logs it (at most once a second, with the count so far). */
    void refuse(SocketAddress from, String why) {
        long count = rejected.incrementAndGet();
        long now = System.nanoTime();
        long last = lastLogged.get();
        if (now - last >= LOG_EVERY_NANOS && lastLogged.compareAndSet(last, now)) {
            LOG.warn("sync: refused a connection from {}: {} ({} refused so far)", from, why, count);
        }
    }

    /** Trusts one certificate, byte for byte; everything else is refused, counted and logged. */
    private final class PinnedTrust extends X509ExtendedTrustManager {
        private final X509Certificate pair;
        private final byte[] encoded;

        PinnedTrust(X509Certificate pair) throws CertificateException {
            this.pair = pair;
            this.encoded = pair.getEncoded();
        }

        private void check(X509Certificate[] chain, String side) throws CertificateException {
            if (chain == null || chain.length == 0 || !Arrays.equals(chain[0].getEncoded(), encoded)) {
                String who = chain == null || chain.length == 0 ? "none" : chain[0].getSubjectX500Principal().getName();
                if (side.equals("peer it connected to")) {
                    refuse(null, "the peer it connected to does not hold the pair's key (certificate: " + who + ")");
                } // a connecting one is counted once, by the gate, when its handshake fails here
                throw new CertificateException("not the pair's certificate (" + who + ")");
            }
            pair.checkValidity();
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            check(chain, "connecting peer");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            check(chain, "peer it connected to");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            check(chain, "connecting peer");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            check(chain, "peer it connected to");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            check(chain, "connecting peer");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            check(chain, "peer it connected to");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[] {pair};
        }
    }
}
