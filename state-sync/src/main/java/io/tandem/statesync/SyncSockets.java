package io.tandem.statesync;

import org.jgroups.util.DefaultSocketFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * The sync port's sockets for JGroups' TCP: TLS 1.3 both ways ({@link SyncTls}), and on the
 * listening side a gate. JGroups accepts on one thread and hands each socket to a reader; a
 * TLS handshake there would let a silent connection hold the acceptor, and a refused one
 * would go uncounted. So the gate accepts the TCP connections itself, runs each handshake on a
 * virtual thread bounded in time ({@link #HANDSHAKE_MILLIS}) and in number
 * ({@link #MAX_HANDSHAKES} at once; past it a connection is closed at once), counts and logs
 * every refusal, and gives JGroups only connections whose peer proved it holds the pair's key.
 */
final class SyncSockets extends DefaultSocketFactory {
    static final int HANDSHAKE_MILLIS = 2_000;
    static final int MAX_HANDSHAKES = 32;

    private final SyncTls tls;

    SyncSockets(SyncTls tls) {
        super(tls.context());
        this.tls = tls;
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
        private Thread acceptor;

        Gate() throws IOException {
            super();
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
                if (!handshakes.tryAcquire()) {
                    tls.refuse(raw.getRemoteSocketAddress(), "too many handshakes at once (" + MAX_HANDSHAKES + ")");
                    closeQuietly(raw);
                    continue;
                }
                Thread.ofVirtual().start(() -> {
                    try {
                        handshake(raw);
                    } finally {
                        handshakes.release();
                    }
                });
            }
        }

        private void handshake(Socket raw) {
            try {
                raw.setSoTimeout(HANDSHAKE_MILLIS);
                SSLSocket ssl = (SSLSocket) ((SSLSocketFactory) tls.context().getSocketFactory())
                        .createSocket(raw, raw.getInetAddress().getHostAddress(), raw.getPort(), true);
                ssl.setUseClientMode(false);
                ssl.setNeedClientAuth(true);
                ssl.setEnabledProtocols(SyncTls.PROTOCOLS);
                ssl.startHandshake();
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

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // refused anyway
        }
    }
}
