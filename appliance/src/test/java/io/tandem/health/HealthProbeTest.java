package io.tandem.health;

import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.tandem.config.HealthCheckConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each kind of check (TCP, HTTP, HTTPS) against servers on the IPv6 loopback, as against an IPv6 backend. */
class HealthProbeTest {
    private static final String V6 = "::1";
    private static MultiThreadIoEventLoopGroup group;
    private static HealthProbe probe;

    @BeforeAll
    static void start() {
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        probe = new HealthProbe(group);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    private static HealthCheckConfig check(HealthCheckConfig.Type type) {
        return new HealthCheckConfig(type, null, "/healthz", null, Duration.ofSeconds(1), Duration.ofSeconds(2), 1, 1);
    }

    private static HealthProbe.Result run(int port, HealthCheckConfig.Type type) throws Exception {
        return probe.check(V6, port, check(type)).get(5, TimeUnit.SECONDS);
    }

    @Test
    void aTcpCheckConnectsToAnIpv6Backend() throws Exception {
        int closed;
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getByName(V6))) {
            HealthProbe.Result r = run(server.getLocalPort(), HealthCheckConfig.Type.TCP);
            assertTrue(r.ok(), r.detail());
            closed = server.getLocalPort();
        }
        HealthProbe.Result refused = run(closed, HealthCheckConfig.Type.TCP);
        assertFalse(refused.ok(), "nothing listens any more: " + refused.detail());
    }

    @Test
    void anHttpCheckSendsABracketedHostAndReadsTheStatus() throws Exception {
        List<String> hosts = new CopyOnWriteArrayList<>();
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getByName(V6), 0), 0);
        server.createContext("/", exchange -> {
            hosts.add(exchange.getRequestHeaders().getFirst("Host"));
            exchange.sendResponseHeaders(exchange.getRequestURI().getPath().equals("/healthz") ? 200 : 503, -1);
            exchange.close();
        });
        server.start();
        try {
            int port = server.getAddress().getPort();
            HealthProbe.Result r = run(port, HealthCheckConfig.Type.HTTP);
            assertTrue(r.ok(), r.detail());
            assertEquals(List.of("[::1]:" + port), hosts);
            HealthProbe.Result failing = probe.check(V6, port, new HealthCheckConfig(HealthCheckConfig.Type.HTTP, null, "/down", null,
                    Duration.ofSeconds(1), Duration.ofSeconds(2), 1, 1)).get(5, TimeUnit.SECONDS);
            assertFalse(failing.ok());
            assertEquals("status 503", failing.detail());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void anHttpsCheckReachesAnIpv6Backend(@TempDir Path dir) throws Exception {
        Path store = dir.resolve("backend.p12");
        Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-genkeypair",
                "-alias", "backend", "-keyalg", "EC", "-dname", "CN=backend", "-validity", "2", "-storetype", "PKCS12",
                "-keystore", store.toString(), "-storepass", "changeit", "-keypass", "changeit").redirectErrorStream(true).start();
        assertTrue(keytool.waitFor(60, TimeUnit.SECONDS) && keytool.exitValue() == 0, new String(keytool.getInputStream().readAllBytes()));
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            keys.load(in, "changeit".toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, "changeit".toCharArray());
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(kmf.getKeyManagers(), null, null);
        List<String> hosts = new CopyOnWriteArrayList<>();
        HttpsServer server = HttpsServer.create(new InetSocketAddress(InetAddress.getByName(V6), 0), 0);
        server.setHttpsConfigurator(new HttpsConfigurator(tls));
        server.createContext("/healthz", exchange -> {
            hosts.add(exchange.getRequestHeaders().getFirst("Host"));
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        server.start();
        try {
            int port = server.getAddress().getPort();
            HealthProbe.Result r = run(port, HealthCheckConfig.Type.HTTPS);
            assertTrue(r.ok(), r.detail());
            assertEquals(List.of("[::1]:" + port), hosts, "over TLS, the same Host");
            HealthProbe.Result plain = run(port, HealthCheckConfig.Type.HTTP);
            assertFalse(plain.ok(), "plain HTTP to a TLS port is no answer: " + plain.detail());
        } finally {
            server.stop(0);
        }
    }
}
