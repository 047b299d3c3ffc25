package io.tandem.lab;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * The lab's traffic programs, run inside a namespace with {@code ip netns exec}. Every one
 * is bounded in time and count and exits by itself.
 *
 * <pre>
 * tcp-server PORT ID SECONDS       per connection: send "ID PEER_ADDRESS:PEER_PORT\n", then read
 *                                  "LENGTH\n" and LENGTH bytes, answer the SHA-256 in hex
 * udp-server PORT ID SECONDS       answer each datagram with "ID " + its payload
 * http-status PORT STATUS_FILE SECONDS  answers every HTTP request with the status in STATUS_FILE (200 if absent)
 * tcp-clients HOST PORT CONNS BYTES HOLD_MS SECONDS
 *                                  CONNS concurrent connections; each reads the server line,
 *                                  waits HOLD_MS, uploads BYTES random bytes, checks the digest;
 *                                  prints "ok LOCAL_PORT ID PEER" or "fail LOCAL_PORT REASON" per connection
 * udp-client HOST PORT COUNT       COUNT request/response exchanges; prints "ok REPLY" or "fail" (and "stray REPLY"
 *                                  for an answer to no request of its own: an earlier sender's on the same port)
 * echo-server PORT SECONDS         echoes every line back
 * echo-clients HOST PORT CONNS INTERVAL_MS SECONDS [CONNECTS_PER_SECOND]
 *                                  CONNS connections (opened at most CONNECTS_PER_SECOND a second,
 *                                  all at once without it), each sending a line every INTERVAL_MS and
 *                                  checking its echo for SECONDS; prints "ok LOCAL_PORT max_stall_ms N"
 *                                  or "fail LOCAL_PORT REASON" per connection, then "summary ..."
 * tcp-churn HOST PORT PER_SECOND BYTES SECONDS
 *                                  PER_SECOND new connections a second for SECONDS, each as one of
 *                                  tcp-clients (upload BYTES, check the digest); prints "fail ..." per
 *                                  failed one, then "churn connections N failed F"
 * udp-stream HOST PORT INTERVAL_MS SECONDS
 *                                  one UDP flow (one source port): a datagram every INTERVAL_MS for
 *                                  SECONDS; prints "udp sent N answered A backends [ID, ...]"
 * hello-server PORT ID SECONDS FIRST
 *                                  per connection: send "ID\n", then close first (FIRST=server, as an
 *                                  HTTP server with Connection: close) or after the client (FIRST=client)
 * churn HOST PORT CONCURRENCY SECONDS FIRST
 *                                  new connections as fast as they go for SECONDS, each read the
 *                                  server's line and closed with a FIN — after the server's (FIRST=server)
 *                                  or first (FIRST=client), never with a reset, so TIME_WAIT happens
 *                                  where real clients put it; prints "slice S connections C failures F"
 *                                  every 10 s, then "churn connections N per_second R failures F"
 * idle-conns HOST|unix:PATH PORT COUNT SECONDS
 *                                  opens COUNT connections (TCP to HOST:PORT, or to the Unix socket
 *                                  PATH; PORT then ignored), sends nothing and holds them SECONDS;
 *                                  prints "idle opened N refused R closed_by_server C" (closed: read EOF)
 * udp-blast HOST PORT SENDERS SECONDS
 *                                  one-way UDP (syslog, statsd, telemetry): SENDERS threads, each its own
 *                                  socket and so its own flow, sending 64-byte datagrams as fast as they go
 *                                  for SECONDS, never reading a reply; prints "udp-blast sent N per_second R"
 * conn-rate HOST PORT CONCURRENCY SECONDS
 *                                  new connections as fast as they go (connect, read the server
 *                                  line, close) for SECONDS; prints "connections N per_second R failures F"
 * </pre>
 */
public final class LabTraffic {
    private LabTraffic() {
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "tcp-server" -> tcpServer(Integer.parseInt(args[1]), args[2], Integer.parseInt(args[3]));
            case "udp-server" -> udpServer(Integer.parseInt(args[1]), args[2], Integer.parseInt(args[3]));
            case "tcp-clients" -> System.exit(tcpClients(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]), Integer.parseInt(args[5]), Integer.parseInt(args[6])));
            case "udp-client" -> System.exit(udpClient(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3])));
            case "echo-server" -> echoServer(Integer.parseInt(args[1]), Integer.parseInt(args[2]));
            case "http-status" -> httpStatusServer(Integer.parseInt(args[1]), Path.of(args[2]), Integer.parseInt(args[3]));
            case "echo-clients" -> System.exit(echoClients(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]), Integer.parseInt(args[5]), args.length > 6 ? Integer.parseInt(args[6]) : 0));
            case "tcp-churn" -> System.exit(tcpChurn(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]), Integer.parseInt(args[5])));
            case "udp-stream" -> System.exit(udpStream(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4])));
            case "hello-server" -> serve(Integer.parseInt(args[1]), Integer.parseInt(args[3]),
                    socket -> hello(socket, args[2], args[4].equals("server")));
            case "churn" -> churn(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    args[5].equals("server"));
            case "idle-conns" -> idleConnections(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]));
            case "udp-blast" -> udpBlast(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            case "conn-rate" -> connectionRate(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            default -> throw new IllegalArgumentException("unknown command " + args[0]);
        }
    }

    /**
     * A health endpoint: answers every HTTP request with the status written in {@code statusFile}
     * (200 while the file is missing), so a test turns a backend unhealthy and back by writing it.
     */
    static void httpStatusServer(int port, Path statusFile, int seconds) throws IOException {
        serve(port, seconds, socket -> {
            try (socket) {
                socket.setSoTimeout(5000);
                InputStream in = socket.getInputStream();
                int last4 = 0;
                for (int b; (b = in.read()) >= 0; ) { // read through the blank line that ends the request head
                    last4 = last4 << 8 | b;
                    if (last4 == 0x0D0A0D0A) {
                        break;
                    }
                }
                String status = Files.exists(statusFile) ? Files.readString(statusFile).strip() : "200";
                socket.getOutputStream().write(("HTTP/1.1 " + status + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
            } catch (IOException ignored) {
                // the checker sees what it sees
            }
        });
    }

    static void tcpServer(int port, String id, int seconds) throws IOException {
        serve(port, seconds, socket -> serveDigest(socket, id));
    }

    /** Accepts connections on {@code port} for {@code seconds}, each handled on a virtual thread; then exits. */
    private static void serve(int port, int seconds, Consumer<Socket> handler) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor();
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(port), 512);
            server.setSoTimeout(200);
            System.out.println("listening " + port);
            System.out.flush();
            while (System.nanoTime() < deadline) {
                Socket socket;
                try {
                    socket = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                workers.submit(() -> handler.accept(socket));
            }
        } finally {
            workers.shutdownNow();
        }
        System.exit(0);
    }

    private static void serveDigest(Socket socket, String id) {
        try (socket) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write((id + " " + socket.getInetAddress().getHostAddress() + ":" + socket.getPort() + "\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            long length = Long.parseLong(readLine(in));
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] chunk = new byte[16384];
            long remaining = length;
            while (remaining > 0) {
                int n = in.read(chunk, 0, (int) Math.min(chunk.length, remaining));
                if (n < 0) {
                    return;
                }
                sha.update(chunk, 0, n);
                remaining -= n;
            }
            out.write((HexFormat.of().formatHex(sha.digest()) + "\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
        } catch (Exception e) {
            // the client reports what it saw
        }
    }

    static void udpServer(int port, String id, int seconds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        try (DatagramSocket socket = new DatagramSocket(port)) {
            socket.setSoTimeout(200);
            System.out.println("listening " + port);
            System.out.flush();
            byte[] buf = new byte[2048];
            while (System.nanoTime() < deadline) {
                DatagramPacket packet = new DatagramPacket(buf, buf.length);
                try {
                    socket.receive(packet);
                } catch (SocketTimeoutException e) {
                    continue;
                }
                byte[] reply = (id + " " + new String(buf, 0, packet.getLength(), StandardCharsets.US_ASCII)).getBytes(StandardCharsets.US_ASCII);
                socket.send(new DatagramPacket(reply, reply.length, packet.getSocketAddress()));
            }
        }
        System.exit(0);
    }

    static int tcpClients(String host, int port, int connections, int bytes, int holdMillis, int seconds) throws Exception {
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<String>> results = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            long seed = i;
            results.add(pool.submit(() -> oneConnection(host, port, bytes, holdMillis, seed)));
        }
        int failures = collect(results, System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds), true);
        pool.shutdownNow();
        return failures == 0 ? 0 : 1;
    }

    /**
     * Waits for each connection's outcome line until {@code deadlineNanos}; prints every line, or
     * only the failures; returns how many failed.
     */
    private static int collect(List<Future<String>> results, long deadlineNanos, boolean printOk) {
        int failures = 0;
        for (Future<String> f : results) {
            String line;
            try {
                line = f.get(Math.max(1, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (Exception e) {
                line = "fail ? " + e;
            }
            boolean ok = line.startsWith("ok");
            failures += ok ? 0 : 1;
            if (printOk || !ok) {
                System.out.println(line);
            }
        }
        return failures;
    }

    /** Short connections at a steady rate; exit 1 if any failed. */
    static int tcpChurn(String host, int port, int perSecond, int bytes, int seconds) throws Exception {
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<String>> results = new ArrayList<>();
        long start = System.nanoTime();
        long total = (long) perSecond * seconds;
        for (long i = 0; i < total; i++) {
            long due = start + i * 1_000_000_000L / perSecond;
            long wait = due - System.nanoTime();
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait); // pacing: the workload's rate
            }
            long seed = i;
            results.add(pool.submit(() -> oneConnection(host, port, bytes, 0, seed)));
        }
        int failures = collect(results, System.nanoTime() + TimeUnit.SECONDS.toNanos(60), false);
        pool.shutdownNow();
        System.out.println("churn connections " + results.size() + " failed " + failures);
        return failures == 0 ? 0 : 1;
    }

    /**
     * One UDP flow for {@code seconds}: a datagram every {@code intervalMillis} from one source
     * port; answers are counted and their backend ids collected (one id = the mapping held).
     */
    static void udpBlast(String host, int port, int senders, int seconds) throws Exception {
        LongAdder sent = new LongAdder();
        InetSocketAddress target = new InetSocketAddress(host, port);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < senders; i++) {
            threads.add(Thread.ofPlatform().start(() -> {
                ByteBuffer datagram = ByteBuffer.allocateDirect(64);
                try (DatagramChannel channel = DatagramChannel.open()) {
                    channel.connect(target);
                    long mine = 0;
                    while (System.nanoTime() < end) {
                        for (int burst = 0; burst < 64; burst++) {
                            datagram.clear();
                            try {
                                channel.write(datagram);
                                mine++;
                            } catch (IOException e) {
                                // a full socket buffer or an ICMP error: the next one goes
                            }
                        }
                    }
                    sent.add(mine);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        System.out.println("udp-blast sent " + sent.sum() + " per_second " + sent.sum() / seconds);
    }

    static int udpStream(String host, int port, int intervalMillis, int seconds) throws Exception {
        Set<String> backends = ConcurrentHashMap.newKeySet();
        LongAdder answered = new LongAdder();
        long sent = 0;
        try (DatagramSocket socket = new DatagramSocket()) {
            socket.setSoTimeout(200);
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            Thread reader = Thread.ofVirtual().start(() -> {
                byte[] buf = new byte[2048];
                while (System.nanoTime() < end + TimeUnit.SECONDS.toNanos(2)) {
                    DatagramPacket reply = new DatagramPacket(buf, buf.length);
                    try {
                        socket.receive(reply);
                    } catch (IOException e) {
                        continue; // a timeout: look at the clock again
                    }
                    backends.add(new String(buf, 0, reply.getLength(), StandardCharsets.US_ASCII).split(" ")[0]);
                    answered.increment();
                }
            });
            InetSocketAddress target = new InetSocketAddress(host, port);
            while (System.nanoTime() < end) {
                byte[] request = ("datagram-" + sent).getBytes(StandardCharsets.US_ASCII);
                socket.send(new DatagramPacket(request, request.length, target));
                sent++;
                Thread.sleep(intervalMillis); // pacing: the workload's rate
            }
            reader.join();
        }
        System.out.println("udp sent " + sent + " answered " + answered.sum() + " backends " + new TreeSet<>(backends));
        return backends.size() == 1 ? 0 : 1;
    }

    private static String oneConnection(String host, int port, int bytes, int holdMillis, long seed) {
        int localPort = 0;
        try (Socket socket = new Socket()) {
            socket.setSoTimeout(20_000);
            socket.connect(new InetSocketAddress(host, port), 10_000);
            localPort = socket.getLocalPort();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            String[] server = readLine(in).split(" ");
            if (holdMillis > 0) {
                Thread.sleep(holdMillis); // a long-lived, idle connection (e.g. across a reload)
            }
            byte[] data = new byte[bytes];
            new Random(seed).nextBytes(data);
            OutputStream out = socket.getOutputStream();
            out.write((bytes + "\n").getBytes(StandardCharsets.US_ASCII));
            out.write(data);
            out.flush();
            String digest = readLine(in);
            String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
            return digest.equals(expected) ? "ok " + localPort + " " + server[0] + " " + server[1]
                    : "fail " + localPort + " digest mismatch";
        } catch (Exception e) {
            return "fail " + localPort + " " + e.toString().replace('\n', ' ');
        }
    }

    static void echoServer(int port, int seconds) throws IOException {
        serve(port, seconds, socket -> {
            try (socket) {
                socket.getInputStream().transferTo(socket.getOutputStream());
            } catch (IOException ignored) {
                // the client reports what it saw
            }
        });
    }

    static int echoClients(String host, int port, int connections, int intervalMillis, int seconds, int connectsPerSecond)
            throws Exception {
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<long[]>> results = new ArrayList<>();
        long start = System.nanoTime();
        long end = start + TimeUnit.SECONDS.toNanos(seconds);
        for (int i = 0; i < connections; i++) {
            if (connectsPerSecond > 0) {
                long due = start + i * 1_000_000_000L / connectsPerSecond;
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait); // pacing: thousands of SYNs at once would only measure the SYN queue
                }
            }
            results.add(pool.submit(() -> echoConnection(host, port, intervalMillis, end)));
        }
        int failures = 0;
        long worstStall = 0;
        long worstRoundTrip = 0;
        for (Future<long[]> f : results) {
            long[] r;
            try {
                r = f.get(seconds + 30L, TimeUnit.SECONDS);
            } catch (Exception e) {
                r = new long[] {0, -1, 0, 0};
            }
            if (r[1] < 0) {
                failures++;
                System.out.println("fail " + r[0] + " after " + r[2] + " echoes");
            } else {
                worstStall = Math.max(worstStall, r[1]);
                worstRoundTrip = Math.max(worstRoundTrip, r[3]);
                System.out.println("ok " + r[0] + " max_stall_ms " + r[1] + " echoes " + r[2] + " max_round_trip_ms " + r[3]);
            }
        }
        System.out.println("summary surviving " + (connections - failures) + "/" + connections + " longest_stall_ms " + worstStall
                + " longest_round_trip_ms " + worstRoundTrip);
        pool.shutdownNow();
        return failures == 0 ? 0 : 1;
    }

    /** An echo at least this slow is printed with the time its request was sent. */
    private static final long SLOW_ECHO_MILLIS = 500;

    /**
     * {local port, longest gap between echoes in ms (-1 if the connection failed), echoes, longest
     * round trip in ms}. The gap includes this client's own lateness — its sleep and, with
     * thousands of connections on two cores, late wake-ups — the round trip (an echo's write to
     * its read) only what the path between did to it: a lost segment shows as its retransmission.
     */
    private static long[] echoConnection(String host, int port, int intervalMillis, long endNanos) {
        int localPort = 0;
        long echoes = 0;
        try (Socket socket = new Socket()) {
            socket.setSoTimeout(10_000);
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(host, port), 10_000);
            localPort = socket.getLocalPort();
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            long last = System.nanoTime();
            long worst = 0;
            long worstRoundTrip = 0;
            while (System.nanoTime() < endNanos) {
                String message = "ping " + localPort + " " + echoes + "\n";
                long sent = System.nanoTime();
                out.write(message.getBytes(StandardCharsets.US_ASCII));
                out.flush();
                String echo = readLine(in) + "\n";
                if (!echo.equals(message)) {
                    return new long[] {localPort, -1, echoes, 0};
                }
                echoes++;
                long now = System.nanoTime();
                worst = Math.max(worst, (now - last) / 1_000_000);
                long roundTrip = (now - sent) / 1_000_000;
                worstRoundTrip = Math.max(worstRoundTrip, roundTrip);
                if (roundTrip >= SLOW_ECHO_MILLIS) { // when, so a test can tell a failover's from a connection's setup
                    System.out.println("slow " + localPort + " sent_at_ms " + (System.currentTimeMillis() - roundTrip)
                            + " round_trip_ms " + roundTrip);
                }
                last = now;
                Thread.sleep(intervalMillis);
            }
            return new long[] {localPort, worst, echoes, worstRoundTrip};
        } catch (Exception e) {
            return new long[] {localPort, -1, echoes, 0};
        }
    }

    static void connectionRate(String host, int port, int concurrency, int seconds) throws Exception {
        long[] counts = newConnections(host, port, concurrency, seconds, false, socket -> {
            socket.setSoTimeout(2000);
            socket.setSoLinger(true, 0); // close with RST: no client TIME_WAIT to exhaust ports
            return socket;
        }, socket -> readLine(socket.getInputStream()));
        System.out.printf("connections %d per_second %.0f failures %d%n", counts[0], counts[0] / (seconds * 1.0), counts[1]);
        System.exit(0);
    }

    /** One step of a new connection: set it up before the connect, or talk over it after. */
    private interface Step {
        Socket apply(Socket socket) throws IOException;
    }

    private interface Talk {
        void run(Socket socket) throws IOException;
    }

    /**
     * New connections from {@code concurrency} threads as fast as they go for {@code seconds}:
     * each socket set up, connected, talked over and closed; with {@code slices}, prints every
     * 10 s how many succeeded and failed. Returns {done, failed}.
     */
    private static long[] newConnections(String host, int port, int concurrency, int seconds, boolean slices, Step setup, Talk talk)
            throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + TimeUnit.SECONDS.toNanos(seconds);
        LongAdder done = new LongAdder();
        LongAdder failed = new LongAdder();
        InetSocketAddress target = new InetSocketAddress(host, port);
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        for (int i = 0; i < concurrency; i++) {
            pool.submit(() -> {
                while (System.nanoTime() < deadline) {
                    try (Socket socket = setup.apply(new Socket())) {
                        socket.connect(target, 3000);
                        talk.run(socket);
                        done.increment();
                    } catch (IOException e) {
                        failed.increment();
                    }
                }
            });
        }
        long lastDone = 0;
        long lastFailed = 0;
        for (int slice = 1; slices && System.nanoTime() < deadline; slice++) {
            long sliceEnd = Math.min(deadline, start + TimeUnit.SECONDS.toNanos(10L * slice));
            TimeUnit.NANOSECONDS.sleep(Math.max(0, sliceEnd - System.nanoTime()));
            long d = done.sum();
            long f = failed.sum();
            System.out.printf("slice %d connections %d failures %d%n", slice, d - lastDone, f - lastFailed);
            System.out.flush();
            lastDone = d;
            lastFailed = f;
        }
        pool.shutdown();
        pool.awaitTermination(seconds + 10L, TimeUnit.SECONDS);
        return new long[] {done.sum(), failed.sum()};
    }

    static int udpClient(String host, int port, int count) throws IOException {
        int failures = 0;
        try (DatagramSocket socket = new DatagramSocket()) {
            socket.setSoTimeout(2000);
            InetAddress address = InetAddress.getByName(host);
            for (int i = 0; i < count; i++) {
                byte[] request = ("request-" + i).getBytes(StandardCharsets.US_ASCII);
                socket.send(new DatagramPacket(request, request.length, address, port));
                byte[] buf = new byte[2048];
                DatagramPacket reply = new DatagramPacket(buf, buf.length);
                try {
                    // A late answer to an earlier sender that had this socket's port (a flood from the same
                    // host uses every port) is not this request's: said and skipped, not taken for the answer.
                    while (true) {
                        socket.receive(reply);
                        String text = new String(buf, 0, reply.getLength(), StandardCharsets.US_ASCII);
                        boolean from = reply.getAddress().equals(address) && reply.getPort() == port;
                        if (from && !text.contains(" request-")) {
                            System.out.println("stray " + text.strip() + " from " + reply.getAddress().getHostAddress() + ":" + reply.getPort());
                            continue;
                        }
                        boolean ok = text.endsWith(" request-" + i) && from;
                        System.out.println((ok ? "ok " : "fail ") + text + " from " + reply.getAddress().getHostAddress() + ":" + reply.getPort());
                        failures += ok ? 0 : 1;
                        break;
                    }
                } catch (SocketTimeoutException e) {
                    System.out.println("fail timeout");
                    failures++;
                }
            }
        }
        return failures == 0 ? 0 : 1;
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c < 0) {
                throw new IOException("connection closed before end of line: '" + sb + "'");
            }
            sb.append((char) c);
        }
        return sb.toString();
    }

    /**
     * Holds idle connections open, as an attacker or a leaking client would: how many the
     * server took, how many it refused and how many it closed (idle timeout, connection cap).
     */
    private static void idleConnections(String target, int port, int count, int seconds) throws IOException, InterruptedException {
        List<SocketChannel> open = new ArrayList<>();
        int refused = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        for (int i = 0; i < count && System.nanoTime() < deadline; i++) {
            try {
                SocketChannel c = target.startsWith("unix:")
                        ? SocketChannel.open(UnixDomainSocketAddress.of(target.substring(5)))
                        : SocketChannel.open(new InetSocketAddress(target, port));
                c.configureBlocking(false);
                open.add(c);
            } catch (IOException e) {
                refused++;
            }
        }
        System.out.println("idle holding " + open.size() + " refused " + refused);
        System.out.flush();
        ByteBuffer one = ByteBuffer.allocate(1);
        int closed = 0;
        TimeUnit.NANOSECONDS.sleep(Math.max(0, deadline - System.nanoTime())); // hold them, bounded
        for (SocketChannel c : open) {
            one.clear();
            try {
                if (c.read(one) < 0) {
                    closed++;
                }
            } catch (IOException e) {
                closed++;
            }
            c.close();
        }
        System.out.println("idle opened " + open.size() + " refused " + refused + " closed_by_server " + closed);
    }

    private static void hello(Socket socket, String id, boolean serverFirst) {
        try (socket) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write((id + "\n").getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            if (!serverFirst) {
                while (socket.getInputStream().read() >= 0) {
                    // until the client's FIN
                }
            }
        } catch (IOException e) {
            // the client went away: nothing to answer
        }
    }

    /** Connection churn closed the way real clients close: see the usage. */
    static void churn(String host, int port, int concurrency, int seconds, boolean serverFirst) throws Exception {
        long[] counts = newConnections(host, port, concurrency, seconds, true, socket -> {
            socket.setSoTimeout(3000);
            return socket;
        }, socket -> {
            readLine(socket.getInputStream());
            if (serverFirst && socket.getInputStream().read() >= 0) {
                throw new IOException("the server sent more than its line");
            }
        });
        System.out.printf("churn connections %d per_second %.0f failures %d%n", counts[0], counts[0] / (seconds * 1.0), counts[1]);
        System.exit(0);
    }
}
