package io.tandem.conntrack;

import io.tandem.packet.Ipv6;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Ipv6AddressesTest {
    private static final long[] CLIENT = Ipv6.parse("2001:2:0:1::5");
    private static final long[] OTHER = Ipv6.parse("2001:2:0:1::6");

    @Test
    void oneAddressOneIdWhileAnyoneHoldsIt() {
        Ipv6Addresses arena = new Ipv6Addresses(100);
        assertEquals(0, arena.bytes(), "nothing allocated before the first IPv6 address");
        assertEquals(Ipv6Addresses.NONE, arena.find(CLIENT[0], CLIENT[1]));
        int id = arena.acquire(CLIENT[0], CLIENT[1]);
        assertEquals(id, arena.acquire(CLIENT[0], CLIENT[1]), "a second flow of the same client shares the entry");
        int other = arena.acquire(OTHER[0], OTHER[1]);
        assertNotEquals(id, other);
        assertEquals(2, arena.references(id));
        assertEquals(2, arena.size());
        assertEquals(CLIENT[0], arena.high(id));
        assertEquals(CLIENT[1], arena.low(id));

        arena.release(id);
        assertEquals(id, arena.find(CLIENT[0], CLIENT[1]), "still held by one flow");
        arena.release(id);
        assertEquals(Ipv6Addresses.NONE, arena.find(CLIENT[0], CLIENT[1]));
        assertEquals(other, arena.find(OTHER[0], OTHER[1]));
        assertEquals(1, arena.size());
        long[] third = Ipv6.parse("2001:2:0:1::7");
        assertEquals(id, arena.acquire(third[0], third[1]), "a freed id is used again");
    }

    @Test
    void aFullArenaRefusesNewAddressesAndKeepsTheOldOnes() {
        Ipv6Addresses arena = new Ipv6Addresses(3);
        for (int i = 0; i < 3; i++) {
            assertTrue(arena.acquire(CLIENT[0], i) >= 0);
        }
        assertEquals(Ipv6Addresses.NONE, arena.acquire(CLIENT[0], 99));
        assertTrue(arena.acquire(CLIENT[0], 1) >= 0, "a held address is still found and shared");
        for (int i = 0; i < 3; i++) {
            assertNotEquals(Ipv6Addresses.NONE, arena.find(CLIENT[0], i));
        }
    }

    /** Random acquires and releases against a map: every address found exactly while it is held, through growth and deletion shifts. */
    @Test
    void agreesWithAMapThroughRandomChurn() {
        for (long seed = 1; seed <= 5; seed++) {
            Random random = new Random(seed);
            Ipv6Addresses arena = new Ipv6Addresses(5_000);
            Map<Long, Integer> held = new HashMap<>();
            Map<Long, Integer> ids = new HashMap<>();
            for (int step = 0; step < 200_000; step++) {
                long low = random.nextInt(8_000); // more addresses than fit: some acquires are refused
                if (random.nextInt(3) > 0) {
                    int id = arena.acquire(CLIENT[0], low);
                    if (id == Ipv6Addresses.NONE) {
                        assertEquals(5_000, held.size(), "refused only when full");
                        continue;
                    }
                    Integer known = ids.putIfAbsent(low, id);
                    assertEquals(known == null ? id : known, id, "one id per held address");
                    held.merge(low, 1, Integer::sum);
                } else if (held.containsKey(low)) {
                    arena.release(ids.get(low));
                    if (held.merge(low, -1, Integer::sum) == 0) {
                        held.remove(low);
                        ids.remove(low);
                    }
                }
                if (step % 1000 == 0) {
                    for (long probe = 0; probe < 8_000; probe += 97) {
                        int found = arena.find(CLIENT[0], probe);
                        assertEquals(ids.getOrDefault(probe, Ipv6Addresses.NONE), found, "address " + probe + ", seed " + seed);
                    }
                }
            }
            assertEquals(held.size(), arena.size());
            for (Map.Entry<Long, Integer> e : ids.entrySet()) {
                assertEquals(e.getValue(), arena.find(CLIENT[0], e.getKey()));
                assertEquals(held.get(e.getKey()), arena.references(e.getValue()));
            }
        }
    }

    @Test
    void costsAboutItsStatedBytesPerAddress() {
        Ipv6Addresses arena = new Ipv6Addresses(1 << 20);
        int n = (1 << 16) - 4; // a capacity step: four under a power of two
        for (int i = 0; i < n; i++) {
            arena.acquire(CLIENT[0], i);
        }
        double perAddress = (double) arena.bytes() / n;
        assertTrue(perAddress <= Ipv6Addresses.BYTES_PER_ADDRESS, perAddress + " bytes per address at a full capacity step");
        arena.acquire(CLIENT[0], n);
        double grown = (double) arena.bytes() / (n + 1);
        assertTrue(grown <= 2 * Ipv6Addresses.BYTES_PER_ADDRESS + 1, grown + " bytes per address just past it");
    }
}
