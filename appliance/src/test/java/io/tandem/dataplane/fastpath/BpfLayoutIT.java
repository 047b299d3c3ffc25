package io.tandem.dataplane.fastpath;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The structs of {@code tandem_maps.h}, as the compiler laid them out (the object's BTF), against
 * what tandemd reads and writes ({@link BpfLayout}): they agree, and a field the two disagree on,
 * a struct of another size or a struct missing is named — the check that refuses a start.
 */
class BpfLayoutIT {
    @Test
    void theProgramLaysOutEverySharedStructAsTandemdReadsIt() throws Exception {
        assertEquals(List.of(), BpfLayout.differencesInTheProgram(BpfLayout.EXPECTED));
    }

    @Test
    void aFieldMovedAStructResizedOrMissingIsNamed() throws Exception {
        List<BpfLayout.Struct> wrong = List.of(
                new BpfLayout.Struct("flow4_nat", 48, Map.of("flags", 45)),
                new BpfLayout.Struct("service", 24, Map.of("id", 0)),
                new BpfLayout.Struct("no_such_struct", 8, Map.of()),
                new BpfLayout.Struct("backend", 40, Map.of("weight", 36)));
        assertEquals(List.of("struct flow4_nat: flags at 45 here, 44 in the program",
                "struct service: 24 bytes here, 16 in the program",
                "struct no_such_struct: not in the program",
                "struct backend: no field weight in the program"), BpfLayout.differencesInTheProgram(wrong));
    }
}
