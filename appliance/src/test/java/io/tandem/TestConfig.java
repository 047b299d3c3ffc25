package io.tandem;

import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * The one place tests get a tandem config from: a box of the lab (front and back interfaces,
 * 198.18.0.0/15 addresses only) with the settings and services a test needs, rendered as the
 * YAML tandemd reads. Block style throughout, so a test may still edit the text (a backend line,
 * a port) to make a variant:
 * <pre>
 * TestConfig.box("lb1").dataplane("queues: 1").services(Service.web(3), Service.dns("198.19.0.21")).yaml()
 * </pre>
 */
public final class TestConfig {
    public static final String VIP = "198.18.0.100";
    public static final String SNAT = "198.19.0.100";

    private final String node;
    private final List<String> dataplane = new ArrayList<>();
    private final List<String> conntrack = new ArrayList<>();
    private final List<String> sections = new ArrayList<>();
    private final List<Service> services = new ArrayList<>();

    private TestConfig(String node) {
        this.node = node;
    }

    /** A box named {@code node}, or with no {@code node} section when null. */
    /** Where a test box's fast path would pin its maps unless the test says: not a bpffs, so unpinned. */
    public static final String UNPINNED = "/tmp/tandem-test-unpinned/";

    /** {@code yaml} without the unpinned default {@link #yaml} put in: for a test that sets its own pin directory by editing the text. */
    public static String withoutDefaultPins(String yaml) {
        return yaml.replaceAll("(?m)^  fast_path_pin_dir: " + UNPINNED + "\\S*\n", "");
    }

    public static TestConfig box(String node) {
        return new TestConfig(node);
    }

    /** Settings of the {@code dataplane} section besides the two interfaces, one {@code key: value} each. */
    public TestConfig dataplane(String... settings) {
        dataplane.addAll(List.of(settings));
        return this;
    }

    /** Settings of the {@code conntrack} section, one {@code key: value} each. */
    public TestConfig conntrack(String... settings) {
        conntrack.addAll(List.of(settings));
        return this;
    }

    /** A whole top-level section as YAML text ({@code sync:}, {@code ha:}, ...), ending with a newline. */
    public TestConfig section(String yaml) {
        sections.add(yaml.endsWith("\n") ? yaml : yaml + "\n");
        return this;
    }

    /** The {@code control} section: the socket at {@code socket}, no HTTP side. */
    public TestConfig control(Object socket) {
        return section("control: { socket: " + socket + ", http: \"off\" }");
    }

    public TestConfig services(Service... more) {
        services.addAll(List.of(more));
        return this;
    }

    public String yaml() {
        StringBuilder y = new StringBuilder();
        if (node != null) {
            y.append("node:\n  name: ").append(node).append('\n');
        }
        y.append("dataplane:\n  front_interface: front\n  back_interface: back\n");
        dataplane.forEach(s -> y.append("  ").append(s).append('\n'));
        if (dataplane.stream().noneMatch(s -> s.startsWith("fast_path_pin_dir"))) {
            // Never the box's /sys/fs/bpf/tandem: pins there outlive the test's namespaces, and a
            // pair would share them. A directory off any bpffs: the fast path runs unpinned.
            y.append("  fast_path_pin_dir: ").append(UNPINNED).append(node == null ? "box" : node).append('\n');
        }
        if (!conntrack.isEmpty()) {
            y.append("conntrack:\n");
            conntrack.forEach(s -> y.append("  ").append(s).append('\n'));
        }
        sections.forEach(y::append);
        if (!services.isEmpty()) {
            y.append("services:\n");
            services.forEach(s -> s.appendTo(y));
        }
        return y.toString();
    }

    public TandemConfig parse() throws ConfigException {
        return ConfigLoader.parse(yaml(), "test");
    }

    @Override
    public String toString() {
        return yaml();
    }

    /** One service: a VIP and port, the SNAT address, its backends and any other settings. */
    public static final class Service {
        private final String name;
        private final String vip;
        private final int port;
        private final List<String> settings = new ArrayList<>();
        private final List<String> backends = new ArrayList<>();
        private String protocol;
        private String snat = SNAT;

        public Service(String name, String vip, int port) {
            this.name = name;
            this.vip = vip;
            this.port = port;
        }

        /** web: {@value #VIP}:80 to {@code count} backends 198.19.0.11, .12, ... on port 8080. */
        public static Service web(int count) {
            Service s = new Service("web", VIP, 80);
            for (int i = 0; i < count; i++) {
                s.backend("198.19.0." + (11 + i), 8080);
            }
            return s;
        }

        /** dns: {@value #VIP}:53 over UDP to one backend on port 5353. */
        public static Service dns(String backend) {
            return new Service("dns", VIP, 53).protocol("udp").backend(backend, 5353);
        }

        /** echo: {@code vip}:7000 to the three lab backends on port 7000 (the pair lab's service). */
        public static Service echo(String vip, String snat) {
            return new Service("echo", vip, 7000).snat(snat)
                    .backend("198.19.0.11", 7000).backend("198.19.0.12", 7000).backend("198.19.0.13", 7000);
        }

        public Service protocol(String name) {
            protocol = name;
            return this;
        }

        public Service snat(String address) {
            snat = address;
            return this;
        }

        /** Any other service setting, as {@code key: value} (a health check, a hash key). */
        public Service with(String setting) {
            settings.add(setting);
            return this;
        }

        /** A backend; {@code extra} adds flow-style fields ({@code "weight: 2"}). */
        public Service backend(String address, int backendPort, String... extra) {
            StringBuilder b = new StringBuilder("{ address: ").append(address).append(", port: ").append(backendPort);
            for (String e : extra) {
                b.append(", ").append(e);
            }
            backends.add(b.append(" }").toString());
            return this;
        }

        void appendTo(StringBuilder y) {
            y.append("  - name: ").append(name).append('\n');
            y.append("    vip: ").append(vip).append('\n');
            y.append("    port: ").append(port).append('\n');
            if (protocol != null) {
                y.append("    protocol: ").append(protocol).append('\n');
            }
            y.append("    snat_address: ").append(snat).append('\n');
            settings.forEach(s -> y.append("    ").append(s).append('\n'));
            y.append("    backends:\n");
            backends.forEach(b -> y.append("      - ").append(b).append('\n'));
        }
    }
}
