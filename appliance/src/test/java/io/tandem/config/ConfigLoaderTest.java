package io.tandem.config;

import io.tandem.conntrack.FlowState;
import io.tandem.role.Role;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigLoaderTest {
    private static final String MINIMAL = """
            dataplane:
              front_interface: front
              back_interface: back
            services:
              - name: web
                vip: 198.18.0.100
                port: 80
                snat_address: 198.19.0.100
                backends:
                  - { address: 198.19.0.11, port: 8080 }
                  - { address: 198.19.0.12, port: 8080 }
            """;

    @Test
    void theShippedExampleIsValid() throws Exception {
        TandemConfig config = ConfigLoader.load(Path.of("src/main/dist/tandem.yaml"));
        assertEquals(2, config.services().size());
        assertEquals(Scheduler.MAGLEV, config.services().get(0).scheduler());
        assertEquals(Protocol.UDP, config.services().get(1).protocol());
        assertEquals(Duration.ofDays(5), config.conntrack().timeouts().tcpEstablished());
        assertEquals(0, config.services().get(0).backends().get(2).weight());
    }

    @Test
    void defaultsFillWhatIsLeftOut() throws Exception {
        TandemConfig config = ConfigLoader.parse(MINIMAL, "test");
        assertEquals("tandem", config.node().name());
        assertEquals(1 << 20, config.conntrack().maxFlows());
        assertEquals(1 << 18, config.conntrack().maxEmbryonic());
        assertEquals(new PortRange(1024, 65535), config.conntrack().snatPorts());
        ServiceConfig web = config.services().get(0);
        assertEquals(Protocol.TCP, web.protocol());
        assertEquals(HashKey.FIVE_TUPLE, web.hashKey());
        assertEquals(1, web.backends().get(0).weight());
        assertEquals(120_000, config.conntrack().flowTimeouts().millis(FlowState.TCP_TIME_WAIT));
        assertEquals(IoEngine.EPOLL, config.dataplane().io());
        assertEquals(IoEngine.IO_URING, ConfigLoader.parse(MINIMAL.replace("  back_interface: back\n",
                "  back_interface: back\n  io: io_uring\n"), "test").dataplane().io());
        for (String[] mode : new String[][] {{"on", "ON"}, {"off", "OFF"}, {"auto", "AUTO"}, {"\"on\"", "ON"}}) {
            assertEquals(FastPathMode.valueOf(mode[1]), ConfigLoader.parse(MINIMAL.replace("  back_interface: back\n",
                    "  back_interface: back\n  fast_path: " + mode[0] + "\n"), "test").dataplane().fastPath(), mode[0]);
        }
        assertEquals(FastPathMode.AUTO, ConfigLoader.parse(MINIMAL, "test").dataplane().fastPath(), "the fast path is the default (issue 30)");
        assertEquals(10_000, config.dataplane().tunQueueLength());
        assertEquals(2048, ConfigLoader.parse(MINIMAL.replace("  back_interface: back\n",
                "  back_interface: back\n  tun_queue_length: 2048\n"), "test").dataplane().tunQueueLength());
    }

    @Test
    void anIpv6ServiceIsReadAndPrintedTheRfc5952Way() throws Exception {
        TandemConfig config = ConfigLoader.parse(MINIMAL.replace("vip: 198.18.0.100", "vip: 2001:0002:0:0::0010")
                .replace("snat_address: 198.19.0.100", "snat_address: '2001:2:0:2::100'")
                .replace("{ address: 198.19.0.11, port: 8080 }", "{ address: 2001:2:0:2::11, port: 8080 }")
                .replace("{ address: 198.19.0.12, port: 8080 }", "{ address: \"2001:2:0:2:0:0:0:12\", port: 8080 }"), "test");
        ServiceConfig web = config.services().get(0);
        assertTrue(web.vip().ipv6());
        assertEquals("2001:2::10", web.vip().toString());
        assertEquals("[2001:2::10]:80", web.vip().withPort(80));
        assertEquals("[2001:2:0:2::11]:8080", web.backends().get(0).key());
        assertEquals("[2001:2:0:2::12]:8080", web.backends().get(1).key());
    }

    /** The sync link runs over either family, one family at both ends. */
    @Test
    void theSyncLinkTakesIpv6AddressesOfOneFamily() throws Exception {
        String sync = "sync: { bind_address: 2001:2:0:3::1, peer: 2001:2:0:3::2, key_password: a-password-of-length }\n";
        TandemConfig config = ConfigLoader.parse(sync + MINIMAL, "test");
        assertEquals("2001:2:0:3::2", config.sync().peer().toString());
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.parse(sync.replace("peer: 2001:2:0:3::2", "peer: 198.18.2.2") + MINIMAL, "test"));
        assertTrue(e.errors().contains("sync.peer: 198.18.2.2 is IPv4 and bind_address 2001:2:0:3::1 is IPv6; the sync link is one family"),
                e.getMessage());
    }

    @Test
    void theStatusPageListensOnAnAddressOfEitherFamily() throws Exception {
        TandemConfig config = ConfigLoader.parse("control: { http: \"[::1]:9180\" }\n" + MINIMAL, "test");
        assertEquals("::1", config.control().httpHost());
        assertEquals(9180, config.control().httpPort());
        assertEquals("0.0.0.0", ConfigLoader.parse("control: { http: \"0.0.0.0:80\" }\n" + MINIMAL, "test").control().httpHost());
        assertError("control: { http: \"[2001:2::1::2]:9180\" }\n" + MINIMAL,
                "control.http: '2001:2::1::2' is not an IPv6 address: '::' more than once");
        assertError("control: { http: \"[::1]\" }\n" + MINIMAL,
                "control.http: '[::1]' is not address:port (e.g. 127.0.0.1:9180 or [::1]:9180) or 'off'");
    }

    @Test
    void timeoutOverridesKeepTheOtherDefaults() throws Exception {
        TandemConfig config = ConfigLoader.parse("conntrack:\n  timeouts:\n    tcp_syn_sent: 5s\n" + MINIMAL, "test");
        assertEquals(5_000, config.conntrack().flowTimeouts().millis(FlowState.TCP_SYN_SENT));
        assertEquals(Duration.ofDays(5).toMillis(), config.conntrack().flowTimeouts().millis(FlowState.TCP_ESTABLISHED));
    }

    static Stream<Arguments> badConfigs() {
        return Stream.of(
                Arguments.of("port: 8080 }\n      - { address: 198.19.0.12, port: 8080 }",
                        "port: 8080 }\n      - { address: 198.19.0.12, port: 70000 }",
                        "services[0].backends[1].port: 70000 is not a port (1-65535)"),
                Arguments.of("port: 80\n",
                        "port: 0\n",
                        "services[0].port: 0 is not a port (1-65535)"),
                Arguments.of("port: 80\n",
                        "port: http\n",
                        "services[0].port: 'http' is not a valid number"),
                Arguments.of("vip: 198.18.0.100",
                        "vip: 198.18.0.300",
                        "services[0].vip: '198.18.0.300' is not an IPv4 address: 300 > 255"),
                Arguments.of("vip: 198.18.0.100",
                        "vip: lb.example.com",
                        "services[0].vip: 'lb.example.com' is not an IPv4 address (a.b.c.d)"),
                Arguments.of("  back_interface: back\n",
                        "  back_interface: back\n  io: kqueue\n",
                        "dataplane.io: 'kqueue' is not a valid io engine (epoll, io_uring)"),
                Arguments.of("    vip: 198.18.0.100\n",
                        "    vip: 198.18.0.100\n    protocol: sctp\n",
                        "services[0].protocol: 'sctp' is not a valid protocol (tcp, udp)"),
                Arguments.of("    vip: 198.18.0.100\n",
                        "    vip: 198.18.0.100\n    bakends: []\n",
                        "services[0].bakends: unknown field 'bakends' (known: backends, client_limits, hash_key, health_check, name, on_backend_down, port, protocol, scheduler, snat_address, vip)"),
                Arguments.of("    vip: 198.18.0.100\n",
                        "    vip: 198.18.0.100\n    health_check: { type: http, interval: 1s, timeout: 2s }\n",
                        "services[0].health_check.timeout: 2000 ms is longer than the interval (1000 ms)"),
                Arguments.of("    vip: 198.18.0.100\n",
                        "    vip: 198.18.0.100\n    health_check: { type: http, path: 'x y', fall: 0 }\n",
                        "services[0].health_check.path: 'x y' is not an absolute request path without spaces"),
                Arguments.of("    vip: 198.18.0.100\n",
                        "    vip: 198.18.0.100\n    health_check: { type: ping }\n",
                        "services[0].health_check.type: 'ping' is not a valid type (tcp, http, https)"),
                Arguments.of("    vip: 198.18.0.100\n",
                        "    vip: 198.18.0.100\n    protocol: udp\n    on_backend_down: reset\n",
                        "services[0].on_backend_down: reset needs protocol tcp (UDP has no reset)"),
                Arguments.of("    snat_address: 198.19.0.100\n",
                        "    snat_address: 198.19.0.100\n    hash_key: client-address\n    scheduler: wrr\n",
                        "services[0].hash_key: client-address affinity needs scheduler: maglev"),
                Arguments.of("name: web",
                        "name: 'web site'",
                        "services[0].name: 'web site' is not a name (letters, digits, '_', '.', '-'; up to 63)"),
                Arguments.of("    snat_address: 198.19.0.100\n",
                        "",
                        "services[0].snat_address: required"),
                Arguments.of("port: 8080 }\n      - { address: 198.19.0.12, port: 8080 }",
                        "port: 8080 }\n      - { address: 198.19.0.11, port: 8080 }",
                        "services[0].backends[1]: 198.19.0.11:8080 is listed twice"),
                Arguments.of("port: 8080 }\n      - { address: 198.19.0.12, port: 8080 }",
                        "port: 8080 }\n      - { address: 198.19.0.12, port: 8080, weight: -1 }",
                        "services[0].backends[1].weight: -1 is not a weight (0-1000)"),
                Arguments.of("vip: 198.18.0.100",
                        "vip: 2001:2::10",
                        "services[0].snat_address: 198.19.0.100 is IPv4 and the vip 2001:2::10 is IPv6; a service is one family"),
                Arguments.of("vip: 198.18.0.100\n    port: 80\n    snat_address: 198.19.0.100",
                        "vip: 2001:2::10\n    port: 80\n    snat_address: 2001:2:0:2::100",
                        "services[0].backends[0].address: 198.19.0.11 is IPv4 and the vip 2001:2::10 is IPv6; a service is one family"),
                Arguments.of("vip: 198.18.0.100",
                        "vip: fe80::10",
                        "services[0].vip: fe80::10 is a link-local address (fe80::/10); a service address must be a routable unicast address"),
                Arguments.of("vip: 198.18.0.100",
                        "vip: 224.0.0.18",
                        "services[0].vip: 224.0.0.18 is a multicast address (224.0.0.0/4); a service address must be a routable unicast address"),
                Arguments.of("{ address: 198.19.0.11, port: 8080 }",
                        "{ address: 169.254.0.11, port: 8080 }",
                        "services[0].backends[0].address: 169.254.0.11 is a link-local address (169.254.0.0/16); a service address must be a routable unicast address"),
                Arguments.of("vip: 198.18.0.100",
                        "vip: 2001:2::10::1",
                        "services[0].vip: '2001:2::10::1' is not an IPv6 address: '::' more than once"),
                Arguments.of("vip: 198.18.0.100",
                        "vip: ff02::1",
                        "services[0].vip: ff02::1 is a multicast address (ff00::/8); a service address must be a routable unicast address"));
    }

    @ParameterizedTest(name = "{2}")
    @MethodSource("badConfigs")
    void errorsNameTheFieldAndWhatIsWrong(String find, String replace, String expected) {
        String yaml = MINIMAL.replace(find, replace);
        assertTrue(!yaml.equals(MINIMAL), "the test changed the config");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.parse(yaml, "test"));
        assertEquals(expected, e.errors().get(0), e.getMessage());
    }

    @Test
    void conntrackErrors() {
        assertError("conntrack:\n  max_flows: 0\n" + MINIMAL, "conntrack.max_flows: 0 is not within 1-536870912");
        assertError("conntrack:\n  max_flows: 100\n  max_embryonic: 200\n" + MINIMAL,
                "conntrack.max_embryonic: 200 must be between 1 and max_flows (100)");
        assertError(MINIMAL.replace("  back_interface: back\n", "  back_interface: back\n  fast_path: sometimes\n"),
                "dataplane.fast_path: 'sometimes' is not auto, on or off");
        assertError("conntrack:\n  fragment_hold_packets: 5000\n" + MINIMAL, "conntrack.fragment_hold_packets: 5000 is not within 0-4096");
        assertError("conntrack:\n  fragment_hold_time: 10s\n" + MINIMAL,
                "conntrack.fragment_hold_time: 10000 ms is over 5 s: a held fragment delays its datagram that long");
        assertError("conntrack:\n  snat_ports: 70000-80000\n" + MINIMAL, "conntrack.snat_ports: 70000-80000 is not a port range within 1-65535");
        assertError("conntrack:\n  timeouts:\n    tcp_established: forever\n" + MINIMAL,
                "conntrack.timeouts.tcp_established: 'forever' is not a duration (a number and a unit: ms, s, m, h, d; e.g. 30s)");
        assertError("conntrack:\n  timeouts:\n    udp_assured: 0s\n" + MINIMAL, "conntrack.timeouts.udp_assured: must be longer than 0");
        assertError("conntrack:\n  timeouts:\n    tcp_established: 30d\n" + MINIMAL,
                "conntrack.timeouts.tcp_established: at most 20 days (the flow table keeps times in 32 bits of milliseconds)");
    }

    @Test
    void dataplaneErrors() {
        assertError(MINIMAL.replace("  front_interface: front\n", ""), "dataplane.front_interface: required");
        assertError(MINIMAL.replace("back_interface: back", "back_interface: back\n  route_table: 254"),
                "dataplane.route_table: 254 is not a free table id (1-2^31, not 253-255: default, main, local)");
        assertError(MINIMAL.replace("back_interface: back", "back_interface: back\n  tun_name: a-name-far-too-long"),
                "dataplane.tun_name: 'a-name-far-too-long' is not an interface name (1-15 letters, digits, '_', '.', '-')");
        assertError(MINIMAL.replace("back_interface: back", "back_interface: back\n  tun_queue_length: 10"),
                "dataplane.tun_queue_length: 10 is not within 64-1000000 packets");
    }

    @Test
    void serviceLevelConflicts() {
        String twice = MINIMAL + MINIMAL.substring(MINIMAL.indexOf("  - name")).replace("name: web", "name: web2");
        assertError(twice, "services[1]: 198.18.0.100:80/tcp is already served by services[0]");
        String sameName = MINIMAL + MINIMAL.substring(MINIMAL.indexOf("  - name")).replace("port: 80\n", "port: 81\n");
        assertError(sameName, "services[1].name: 'web' is already the name of services[0]");
        assertError(MINIMAL.substring(0, MINIMAL.indexOf("    backends:")), "services[0].backends: a service needs at least one backend");
    }

    @Test
    void everyErrorIsReportedAtOnce() {
        String yaml = MINIMAL.replace("port: 80\n", "port: 0\n").replace("    vip: 198.18.0.100\n", "");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.parse(yaml, "test"));
        assertEquals(2, e.errors().size(), e.getMessage());
        assertTrue(e.getMessage().startsWith("invalid config test:"));
    }

    @Test
    void brokenYamlAndEmptyFiles() {
        ConfigException syntax = assertThrows(ConfigException.class, () -> ConfigLoader.parse("services: [\n  - {", "test"));
        assertTrue(syntax.errors().get(0).startsWith("not valid YAML"), syntax.getMessage());
        assertError("", "the config is empty");
        assertError("node:\n  name: lb1\nnode:\n  name: lb2\n", "not valid YAML: Duplicate field 'node' (line 3)");
    }

    @Test
    void theSyncRoleIsActiveOrStandbyAndTheSameRoleTypeTheHaNodeUses() throws Exception {
        String sync = "sync: { bind_address: 198.18.2.1, peer: 198.18.2.2, key_password: a-password-of-length, role: %s }\n";
        assertEquals(Role.ACTIVE, ConfigLoader.parse(MINIMAL + sync.formatted("active"), "test").sync().role());
        assertEquals(Role.STANDBY, ConfigLoader.parse(MINIMAL + sync.formatted("standby"), "test").sync().role());
        assertEquals(Role.STANDBY, ConfigLoader.parse(MINIMAL
                        + "sync: { bind_address: 198.18.2.1, peer: 198.18.2.2, key_password: a-password-of-length }\n", "test")
                .sync().role(), "the default");
        // No default password, and none too short to be keygen's.
        ConfigException none = assertThrows(ConfigException.class,
                () -> ConfigLoader.parse(MINIMAL + "sync: { bind_address: 198.18.2.1, peer: 198.18.2.2 }\n", "test"));
        assertTrue(none.errors().get(0).startsWith("sync.key_password: required, at least 16 characters"), none.getMessage());
        ConfigException weak = assertThrows(ConfigException.class,
                () -> ConfigLoader.parse(MINIMAL + "sync: { bind_address: 198.18.2.1, peer: 198.18.2.2, key_password: tandem }\n", "test"));
        assertTrue(weak.errors().get(0).startsWith("sync.key_password: "), weak.getMessage());
        for (String bad : new String[] {"syncing", "ACTIVE", "master"}) {
            ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.parse(MINIMAL + sync.formatted(bad), "test"));
            assertTrue(e.errors().get(0).startsWith("sync.role: "), e.getMessage());
        }
    }

    @Test
    void clientLimitsAreCheckedAndTheirBurstDefaultsToOneSecond() throws Exception {
        String limited = MINIMAL.replace("    port: 80\n", "    port: 80\n    client_limits: { new_flows_per_second: %s }\n");
        assertEquals(new ClientLimitsConfig(100, 100), ConfigLoader.parse(limited.formatted("100"), "test").services().get(0).clientLimits());
        assertError(limited.formatted("0"), "services[0].client_limits.new_flows_per_second: 0 is not within 1-1000000");
        assertError(limited.formatted("10, burst: 0"), "services[0].client_limits.burst: 0 is not within 1-4194303");
        assertEquals(new ClientLimitsConfig(null, null, 50), ConfigLoader.parse(MINIMAL.replace("    port: 80\n",
                "    port: 80\n    client_limits: { max_flows: 50 }\n"), "test").services().get(0).clientLimits());
        String capped = MINIMAL.replace("    port: 80\n", "    port: 80\n    client_limits: { %s }\n");
        assertError(capped.formatted("max_flows: 0"), "services[0].client_limits.max_flows: 0 is not within 1-1000000");
        assertError(capped.formatted("burst: 5"), "services[0].client_limits: give new_flows_per_second, max_flows or both");
        assertError(capped.formatted("max_flows: 9, burst: 5"), "services[0].client_limits.burst: a burst needs new_flows_per_second");
        assertEquals(null, ConfigLoader.parse(MINIMAL, "test").services().get(0).clientLimits(), "no limits unless asked");
    }

    private static void assertError(String yaml, String expected) {
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.parse(yaml, "test"));
        assertEquals(expected, e.errors().get(0), e.getMessage());
    }
}
