package io.tandem.packet;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Ipv6Test {
    /** Any RFC 4291 text in, the RFC 5952 canonical text out (its §4 examples among them). */
    @ParameterizedTest
    @CsvSource({
        "2001:0002:0000:0000:0000:0000:0000:0010, 2001:2::10",
        "2001:2:0:0:0:0:0:10, 2001:2::10",
        "2001:2::10, 2001:2::10",
        "2001:DB8::1, 2001:db8::1",
        "2001:db8:0:0:1:0:0:1, 2001:db8::1:0:0:1", // the first of two equal runs (§4.2.3)
        "2001:db8:0:1:1:1:1:1, 2001:db8:0:1:1:1:1:1", // one zero group is not shortened (§4.2.2)
        "2001:0:0:1:0:0:0:1, 2001:0:0:1::1", // the longest run (§4.2.3)
        "::, ::",
        "::1, ::1",
        "1::, 1::",
        "fe80::1, fe80::1",
        "::ffff:198.18.0.1, ::ffff:198.18.0.1", // IPv4-mapped: mixed notation (§5)
        "::ffff:c612:1, ::ffff:198.18.0.1",
        "2001:2:0:0:0:0:198.18.0.1, 2001:2::c612:1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    })
    void parsesAnyTextAndPrintsTheCanonicalOne(String text, String canonical) {
        long[] a = Ipv6.parse(text);
        assertEquals(canonical, Ipv6.format(a[0], a[1]));
        long[] again = Ipv6.parse(canonical);
        assertEquals(a[0], again[0]);
        assertEquals(a[1], again[1]);
    }

    @Test
    void theHalvesAreTheAddressBitsInNetworkOrder() {
        long[] a = Ipv6.parse("2001:2:3:4:5:6:7:8");
        assertEquals(0x2001000200030004L, a[0]);
        assertEquals(0x0005000600070008L, a[1]);
        assertEquals("[2001:2::10]:80", Ipv6.formatWithPort(0x2001000200000000L, 0x10L, 80));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::", "1:::2",
        "fe80::1%eth0", "[2001:2::1]", "198.18.0.1", "1.2.3.4::", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4", ":1::", "1::2:"})
    void refusesWhatIsNotAnAddressSayingWhy(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Ipv6.parse(text));
        assertTrue(e.getMessage().contains("'" + text + "'") || text.isEmpty(), e.getMessage());
    }

    @Test
    void classifiesTheAddressesAServiceMustNotUse() {
        assertTrue(Ipv6.Address.parse("fe80::1").linkLocal());
        assertTrue(Ipv6.Address.parse("febf::1").linkLocal());
        assertFalse(Ipv6.Address.parse("fec0::1").linkLocal());
        assertTrue(Ipv6.Address.parse("ff02::1").multicast());
        assertTrue(Ipv6.Address.parse("::").unspecified());
        assertTrue(Ipv6.Address.parse("::1").loopback());
        assertTrue(Ipv6.Address.parse("::ffff:198.18.0.1").ipv4Mapped());
        Ipv6.Address service = Ipv6.Address.parse("2001:2::10");
        assertFalse(service.linkLocal() || service.multicast() || service.unspecified() || service.loopback() || service.ipv4Mapped());
        assertEquals("2001:2::10", service.toString());
    }
}
