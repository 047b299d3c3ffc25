package io.tandem.statesync;

import org.jgroups.util.DefaultSocketFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * The sync port's sockets for JGroups' TCP: TLS 1.3 both ways ({@link SyncTls}), and on the
 * listening side a gate. JGroups accepts on one thread and hands each socket to a reader; a
 * TLS handshake there would let a silent connection hold the acceptor, and a refused one
 * would go uncounted. So the gate accepts the TCP connections itself and
 *
 * <ul>
 *   <li>closes at once a connection from an address that is not one of the pair's
 *       ({@code sync.peer_address}, this box's own): nobody else has anything to say there;</li>
 *   <li>runs each handshake on a virtual thread whose <em>whole</em> handshake is bounded in time
 *       ({@link #HANDSHAKE_MILLIS}: a watchdog closes the socket then, however the bytes
 *       trickle — a bound per read let a byte a second hold a slot for good);</li>
 *   <li>bounds handshakes in number — {@link #MAX_HANDSHAKES} at once, and
 *       {@link #MAX_PER_SOURCE} at once and {@link #RATE_PER_SOURCE} a second from any one
 *       address — so no source, not even one on the pair's own network, can take the slots the
 *       peer needs to re-form the pair;</li>
 *   <li>counts and logs every refusal, and gives JGroups only connections whose peer proved it
 *       holds the pair's key.</li>
 * </ul>
 */
final class SyncSockets extends DefaultSocketFactory {
    static final int HANDSHAKE_MILLIS = 2_000;
    static final int MAX_HANDSHAKES = 32;
    static final int MAX_PER_SOURCE = 4;
    static final int RATE_PER_SOURCE = 10;
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "tandem-sync-handshake-watchdog");
        t.setDaemon(true);
        return t;
    });

    private final SyncTls tls;
    /** The addresses a connection may come from; empty: any. */
    private final Set<InetAddress> allowed;

    SyncSockets(SyncTls tls, Set<InetAddress> allowed) {
        super(tls.context());
        this.tls = tls;
        this.allowed = Set.copyOf(allowed);
        setSocketConfigurator(s -> {
            if (s instanceof SSLSocket ssl) {
                ssl.setEnabledProtocols(SyncTls.PROTOCOLS);
            }
        });
    }

    @Override
    public ServerSocket createServerSocket(String serviceName) throws IOException {
        return new Gate();
    }

    @Override
    public ServerSocket createServerSocket(String serviceName, int port) throws IOException {
        Gate gate = new Gate();
        gate.bind(new InetSocketAddress(port));
        return gate;
    }

    @Override
    public ServerSocket createServerSocket(String serviceName, int port, int backlog) throws IOException {
        Gate gate = new Gate();
        gate.bind(new InetSocketAddress(port), backlog);
        return gate;
    }

    @Override
    public ServerSocket createServerSocket(String serviceName, int port, int backlog, InetAddress bindAddress) throws IOException {
        Gate gate = new Gate();
        gate.bind(new InetSocketAddress(bindAddress, port), backlog);
        return gate;
    }

    /** A plain listening socket whose accept() returns only connections that finished a mutual TLS handshake. */
    private final class Gate extends ServerSocket {
        private final BlockingQueue<Socket> admitted = new ArrayBlockingQueue<>(MAX_HANDSHAKES);
        private final Semaphore handshakes = new Semaphore(MAX_HANDSHAKES);
        private final Map<InetAddress, Source> sources = new ConcurrentHashMap<>();
        private Thread acceptor;

        Gate() throws IOException {
            super();
            // The gate closes refused connections itself, leaving them in TIME_WAIT on this port: a
            // restarted tandemd must still bind it at once.
            setReuseAddress(true);
        }

        @Override
        public Socket accept() throws IOException {
            synchronized (this) {
                if (acceptor == null) {
                    acceptor = Thread.ofVirtual().name("tandem-sync-tls-gate").start(this::acceptLoop);
                }
            }
            int timeout = getSoTimeout();
            long deadline = timeout == 0 ? Long.MAX_VALUE : System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeout);
            while (!isClosed()) {
                try {
                    Socket next = admitted.poll(100, TimeUnit.MILLISECONDS);
                    if (next != null) {
                        return next;
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new SocketException("interrupted");
                }
                if (System.nanoTime() > deadline) {
                    throw new SocketTimeoutException("accept timed out");
                }
            }
            throw new SocketException("Socket is closed");
        }

        private void acceptLoop() {
            while (!isClosed()) {
                Socket raw;
                try {
                    raw = super.accept();
                } catch (IOException e) {
                    return; // closed
                }
                InetAddress from = raw.getInetAddress();
                if (!allowed.isEmpty() && !allowed.contains(from)) {
                    tls.refuse(raw.getRemoteSocketAddress(), "not the peer's address");
                    closeQuietly(raw);
                    continue;
                }
                Source source = sources.computeIfAbsent(from, a -> new Source());
                String refusal = source.admit(System.nanoTime());
                if (refusal == null && !handshakes.tryAcquire()) {
                    source.done();
                    refusal = "too many handshakes at once (" + MAX_HANDSHAKES + ")";
                }
                if (refusal != null) {
                    tls.refuse(raw.getRemoteSocketAddress(), refusal);
                    closeQuietly(raw);
                    continue;
                }
                Thread.ofVirtual().start(() -> {
                    try {
                        handshake(raw);
                    } finally {
                        handshakes.release();
                        source.done();
                    }
                });
            }
        }

        private void handshake(Socket raw) {
            ScheduledFuture<?> deadline = WATCHDOG.schedule(() -> closeQuietly(raw), HANDSHAKE_MILLIS, TimeUnit.MILLISECONDS);
            try {
                raw.setSoTimeout(HANDSHAKE_MILLIS);
                SSLSocket ssl = (SSLSocket) ((SSLSocketFactory) tls.context().getSocketFactory())
                        .createSocket(raw, raw.getInetAddress().getHostAddress(), raw.getPort(), true);
                ssl.setUseClientMode(false);
                ssl.setNeedClientAuth(true);
                ssl.setEnabledProtocols(SyncTls.PROTOCOLS);
                ssl.startHandshake();
                if (!deadline.cancel(false)) {
                    throw new IOException("the whole handshake took more than " + HANDSHAKE_MILLIS + " ms");
                }
                ssl.setSoTimeout(0);
                if (!admitted.offer(ssl, HANDSHAKE_MILLIS, TimeUnit.MILLISECONDS)) {
                    tls.refuse(raw.getRemoteSocketAddress(), "JGroups is not accepting");
                    closeQuietly(ssl);
                }
            } catch (IOException e) {
                tls.refuse(raw.getRemoteSocketAddress(), "TLS handshake failed: " + e.getMessage());
                closeQuietly(raw);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                closeQuietly(raw);
            }
        }

        @Override
        public void close() throws IOException {
            super.close();
            Socket s;
            while ((s = admitted.poll()) != null) {
                closeQuietly(s);
            }
        }
    }

    /**
     * One source address's handshakes: how many run now, and a token bucket of
     * {@link #RATE_PER_SOURCE} a second (as many in a burst).
     */
    private static final class Source {
        private int running;
        private double tokens = RATE_PER_SOURCE;
        private long refilledAt = System.nanoTime();

        /** Null if a handshake from this source may start now (then counted as running); else why not. */
        synchronized String admit(long now) {
            tokens = Math.min(RATE_PER_SOURCE, tokens + (now - refilledAt) / 1e9 * RATE_PER_SOURCE);
            refilledAt = now;
            if (running >= MAX_PER_SOURCE) {
                return "too many handshakes at once from one address (" + MAX_PER_SOURCE + ")";
            }
            if (tokens < 1) {
                return "too many handshakes a second from one address (" + RATE_PER_SOURCE + ")";
            }
            tokens -= 1;
            running++;
            return null;
        }

        synchronized void done() {
            running--;
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // refused anyway
        }
    }
}
