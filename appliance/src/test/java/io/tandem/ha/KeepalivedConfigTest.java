package io.tandem.ha;

import io.tandem.config.ConfigException;
import io.tandem.config.ConfigLoader;
import io.tandem.config.TandemConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KeepalivedConfigTest {
    @Test
    void rendersOneVrrpv3InstanceCarryingEveryVipAndSnatAddress() throws Exception {
        String conf = KeepalivedConfig.render(ConfigLoader.load(Path.of("src/main/dist/tandem.yaml")));
        assertTrue(conf.contains("vrrp_version 3"), conf);
        assertTrue(conf.contains("vrrp_instance " + KeepalivedConfig.INSTANCE + " {"), "the instance whose notify lines count");
        assertTrue(conf.contains("advert_int 0.10"), conf);
        assertTrue(conf.contains("unicast_src_ip 198.18.0.1"), conf);
        assertTrue(conf.contains("unicast_peer {\n        198.18.0.2\n    }"), conf);
        assertTrue(conf.contains("virtual_router_id 51"), conf);
        assertTrue(conf.contains("priority 150"), conf);
        assertEquals(1, conf.split("198.18.0.100/32 dev eth0", -1).length - 1, "the shared VIP once:\n" + conf);
        assertEquals(1, conf.split("198.19.0.100/32 dev eth1", -1).length - 1, "the SNAT address once:\n" + conf);
        assertTrue(conf.contains("notify_fifo /run/tandem/keepalived.fifo"), conf);
        assertTrue(conf.contains("init_file " + KeepalivedConfig.HOLD_BACK_WEIGHT + "\n"),
                "a box without a track file starts held back; keepalived never overwrites tandemd's value:\n" + conf);
        assertTrue(conf.contains("script \"/usr/libexec/tandem/tandemd-alive /run/tandem/tandemd.pid /run/tandem/tandemd.sock eth0"
                + " /sys/fs/bpf/tandem/flows4\""), "the fast path is the default: the check knows its pinned map:\n" + conf);
        assertTrue(conf.contains("track_script {\n        tandemd_alive\n    }"), "a crashed tandemd puts the box into FAULT:\n" + conf);
        assertTrue(conf.contains("track_interface {\n        eth1\n    }"), "a dead back link gives the addresses up:\n" + conf);
        assertFalse(conf.contains("${"), conf);
    }

    /** IPv6 addresses move in the excluded block: keepalived keeps one family in an instance's virtual_ipaddress. */
    @Test
    void ipv6VipsAndSnatAddressesMoveWithTheExcludedAddresses() throws Exception {
        String yaml = Files.readString(Path.of("src/main/dist/tandem.yaml"));
        String dual = yaml.replaceFirst("services:\n", "services:\n  - name: web6\n    vip: 2001:2::100\n    port: 80\n"
                + "    snat_address: 2001:2:0:1::100\n    backends:\n      - { address: 2001:2:0:1::11, port: 8080 }\n");
        String conf = KeepalivedConfig.render(ConfigLoader.parse(dual, "test"));
        String vips = conf.substring(conf.indexOf("virtual_ipaddress {"), conf.indexOf("virtual_ipaddress_excluded {"));
        String excluded = conf.substring(conf.indexOf("virtual_ipaddress_excluded {"));
        excluded = excluded.substring(0, excluded.indexOf('}'));
        assertTrue(vips.contains("198.18.0.100/32 dev eth0") && !vips.contains(":"), vips);
        assertTrue(excluded.contains("2001:2::100/128 dev eth0") && excluded.contains("2001:2:0:1::100/128 dev eth1"), excluded);
        assertTrue(excluded.contains("198.19.0.100/32 dev eth1"), excluded);
    }

    /** With the boxes' own addresses IPv6 the instance is IPv6: the IPv6 VIP in virtual_ipaddress, the IPv4 one excluded. */
    @Test
    void anIpv6InstanceCarriesTheIpv6VipsAndExcludesTheIpv4Ones() throws Exception {
        String yaml = Files.readString(Path.of("src/main/dist/tandem.yaml"));
        String dual = yaml.replaceFirst("services:\n", "services:\n  - name: web6\n    vip: 2001:2::100\n    port: 80\n"
                + "    snat_address: 2001:2:0:1::100\n    backends:\n      - { address: 2001:2:0:1::11, port: 8080 }\n")
                .replace("self_address: 198.18.0.1", "self_address: 2001:2::1").replace("peer_address: 198.18.0.2", "peer_address: 2001:2::2");
        assertTrue(dual.contains("self_address: 2001:2::1") && dual.contains("peer_address: 2001:2::2"), "the test changed the config");
        String conf = KeepalivedConfig.render(ConfigLoader.parse(dual, "test"));
        assertTrue(conf.contains("unicast_src_ip 2001:2::1") && conf.contains("unicast_peer {\n        2001:2::2\n    }"), conf);
        String vips = conf.substring(conf.indexOf("virtual_ipaddress {"), conf.indexOf("virtual_ipaddress_excluded {"));
        String excluded = conf.substring(conf.indexOf("virtual_ipaddress_excluded {"));
        excluded = excluded.substring(0, excluded.indexOf('}'));
        assertTrue(vips.contains("2001:2::100/128 dev eth0 preferred_lft 0") && !vips.contains("198."), vips);
        assertTrue(excluded.contains("198.18.0.100/32 dev eth0") && excluded.contains("2001:2:0:1::100/128 dev eth1")
                && excluded.contains("198.19.0.100/32 dev eth1"), excluded);
        ConfigException mixed = assertThrows(ConfigException.class,
                () -> ConfigLoader.parse(dual.replace("peer_address: 2001:2::2", "peer_address: 198.18.0.2"), "test"));
        assertTrue(mixed.errors().contains("ha.peer_address: 198.18.0.2 is IPv4 and self_address 2001:2::1 is IPv6;"
                + " the VRRP instance is one family"), mixed.getMessage());
        ConfigException linkLocal = assertThrows(ConfigException.class,
                () -> ConfigLoader.parse(dual.replace("self_address: 2001:2::1", "self_address: fe80::1"), "test"));
        assertTrue(linkLocal.errors().contains("ha.self_address: fe80::1 is a link-local address (fe80::/10); VRRP adverts go"
                + " between the boxes' unicast addresses on the front LAN (for IPv6 a global one: keepalived takes no zone here)"),
                linkLocal.getMessage());
    }

    @Test
    void advertIntervalsAreVrrpv3Centiseconds() throws Exception {
        String yaml = Files.readString(Path.of("src/main/dist/tandem.yaml"));
        TandemConfig oneSecond = ConfigLoader.parse(yaml.replace("advert_interval: 100ms", "advert_interval: 1s"), "test");
        assertTrue(KeepalivedConfig.render(oneSecond).contains("advert_int 1.00"));
        ConfigException bad = assertThrows(ConfigException.class,
                () -> ConfigLoader.parse(yaml.replace("advert_interval: 100ms", "advert_interval: 105ms"), "test"));
        assertEquals("ha.advert_interval: 105 ms is not a VRRPv3 interval (10 ms steps, 10 ms to 40.95 s; RFC 5798 §5.2.7)",
                bad.errors().get(0));
    }

    @Test
    void withoutAnHaSectionItSaysWhatIsMissing() throws Exception {
        TandemConfig alone = ConfigLoader.parse("""
                dataplane: { front_interface: front, back_interface: back }
                services:
                  - { name: web, vip: 198.18.0.100, port: 80, snat_address: 198.19.0.100, backends: [ { address: 198.19.0.11, port: 80 } ] }
                """, "test");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KeepalivedConfig.render(alone));
        assertTrue(e.getMessage().contains("no 'ha' section"));
    }
}
