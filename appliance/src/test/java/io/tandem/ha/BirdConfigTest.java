package io.tandem.ha;

import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BirdConfigTest {
    static final String BGP_BOX = """
            node: { name: lb1 }
            dataplane: { front_interface: front, back_interface: back }
            sync: { bind_address: 198.18.2.1, peer: 198.18.2.2, key_file: /etc/tandem/sync.p12, key_password: a-password-of-length }
            ha:
              mode: bgp
              priority: 150
              bgp:
                local_as: 65001
                standby_prepend: 2
                hold_time: 6s
                bfd: { enabled: true, interval: 50ms, multiplier: 4 }
                neighbors:
                  - { address: 198.18.0.254, as: 65000, local_address: 198.18.0.1, announce: vips, password: "md5-Key_1!" }
                  - { address: 198.19.0.254, as: 4200000000, local_address: 198.19.0.1 }
            services:
              - { name: web, vip: 198.18.10.100, port: 80, snat_address: 198.19.10.100, backends: [ { address: 198.19.0.11, port: 8080 } ] }
            """;

    @Test
    void eachSessionCarriesItsAddressesAndTheStandbysPathIsLonger() throws Exception {
        String bird = BirdConfig.render(ConfigLoader.parse(BGP_BOX, "test"));
        assertTrue(bird.contains("router id 198.18.0.1;"), bird);
        assertTrue(bird.contains("kernel table 101;\n  learn;"), bird);
        assertTrue(bird.contains("local 198.18.0.1 as 65001;\n  neighbor 198.18.0.254 as 65000;\n  hold time 6;\n  keepalive time 2;"), bird);
        assertTrue(bird.contains("neighbor 198.19.0.254 as 4200000000;"), bird);
        assertTrue(bird.contains("export filter tandem_vips;"), bird);
        assertTrue(bird.contains("export filter tandem_all;"), "announce defaults to all: " + bird);
        assertTrue(bird.contains("if !(krt_source = 200 || krt_source = 201) then reject;"), bird);
        assertEquals(3 * 2, bird.split("bgp_path.prepend\\(65001\\);", -1).length - 1, "two prepends in each of three filters");
        assertTrue(bird.contains("min rx interval 50 ms;") && bird.contains("multiplier 4;") && bird.contains("bfd on;"), bird);
        // TCP-MD5 (RFC 2385) where the config gives a password, and only there.
        assertEquals(1, bird.split("  password \"md5-Key_1!\";\n", -1).length - 1, bird);
        assertTrue(bird.indexOf("password") < bird.indexOf("neighbor 198.19.0.254"), "on the first session only: " + bird);
    }

    /** An IPv6 neighbour's session carries the IPv6 /128s, learnt from the same kernel table by a second kernel protocol. */
    @Test
    void anIpv6NeighboursSessionCarriesTheIpv6Routes() throws Exception {
        String yaml = BGP_BOX.replace("      - { address: 198.19.0.254, as: 4200000000, local_address: 198.19.0.1 }\n",
                "      - { address: 198.19.0.254, as: 4200000000, local_address: 198.19.0.1 }\n"
                        + "      - { address: 2001:2::fe, as: 65000, local_address: 2001:2::1, announce: vips }\n");
        String bird = BirdConfig.render(ConfigLoader.parse(yaml, "test"));
        assertTrue(bird.contains("ipv6 table tandem6;\nprotocol kernel tandem_announce6 {\n  kernel table 101;\n  learn;"), bird);
        assertTrue(bird.contains("local 2001:2::1 as 65001;\n  neighbor 2001:2::fe as 65000;"), bird);
        String session6 = bird.substring(bird.indexOf("local 2001:2::1"));
        assertTrue(session6.contains("ipv6 { table tandem6; import none; export filter tandem_vips; next hop self; };"), session6);
        assertTrue(bird.contains("ipv4 { table tandem; import none; export filter tandem_vips;"), "the IPv4 sessions as before");
        assertTrue(!BirdConfig.render(ConfigLoader.parse(BGP_BOX, "test")).contains("tandem6"), "no IPv6 parts without an IPv6 neighbour");

        String mixed = yaml.replace("local_address: 2001:2::1, announce", "local_address: 198.18.0.1, announce");
        assertTrue(assertThrows(ConfigException.class, () -> ConfigLoader.parse(mixed, "test")).getMessage()
                .contains("ha.bgp.neighbors[2].local_address: 198.18.0.1 is IPv4 and the neighbour 2001:2::fe is IPv6; a session is one family"));
        String only6 = yaml.replace("      - { address: 198.18.0.254, as: 65000, local_address: 198.18.0.1, announce: vips, password: \"md5-Key_1!\" }\n", "")
                .replace("      - { address: 198.19.0.254, as: 4200000000, local_address: 198.19.0.1 }\n", "");
        assertTrue(assertThrows(ConfigException.class, () -> ConfigLoader.parse(only6, "test")).getMessage()
                .contains("ha.bgp.router_id: required when no neighbour is IPv4"));
        assertTrue(BirdConfig.render(ConfigLoader.parse(only6.replace("local_as: 65001", "local_as: 65001\n    router_id: 198.18.0.1"),
                "test")).contains("router id 198.18.0.1;"));
    }

    @Test
    void badBgpSettingsNameTheField() {
        String[][] cases = {
            {"local_as: 65001", "local_as: 23456", "ha.bgp.local_as: 23456 is not an AS number (1-4294967294, not 23456; RFC 6793)"},
            {"hold_time: 6s", "hold_time: 2s", "ha.bgp.hold_time: 2000 ms is not a BGP hold time (whole seconds, 3-65535; RFC 4271 §4.2)"},
            {"standby_prepend: 2", "standby_prepend: 0", "ha.bgp.standby_prepend: 0 is not within 1-10"},
            {", local_address: 198.19.0.1 }", " }", "ha.bgp.neighbors[1].local_address: required"},
            {"password: \"md5-Key_1!\"", "password: \"has \\\" quote\"", "ha.bgp.neighbors[0].password: 1-80 printable ASCII"},
            {"password: \"md5-Key_1!\"", "password: \"" + "x".repeat(81) + "\"", "ha.bgp.neighbors[0].password: 1-80 printable ASCII"},
        };
        for (String[] c : cases) {
            String bad = BGP_BOX.replace(c[0], c[1]);
            ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.parse(bad, "test"));
            assertTrue(e.getMessage().contains(c[2]), e.getMessage());
        }
        String noBgp = BGP_BOX.substring(0, BGP_BOX.indexOf("  bgp:")) + BGP_BOX.substring(BGP_BOX.indexOf("services:"));
        assertTrue(assertThrows(ConfigException.class, () -> ConfigLoader.parse(noBgp, "test")).getMessage()
                .contains("ha.bgp: required with mode bgp"));
    }

    @Test
    void withoutBgpModeThereIsNoBirdConfigAndNoKeepalivedConfigInBgpMode() throws Exception {
        TandemConfig bgp = ConfigLoader.parse(BGP_BOX, "test");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> KeepalivedConfig.render(bgp)).getMessage().contains("bird-config"));
        TandemConfig alone = ConfigLoader.parse(BGP_BOX.substring(0, BGP_BOX.indexOf("sync:"))
                + BGP_BOX.substring(BGP_BOX.indexOf("services:")), "test");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BirdConfig.render(alone)).getMessage().contains("not bgp"));
    }
}
