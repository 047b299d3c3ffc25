package io.tandem;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The package layers of tandemd and tandemctl, as docs/architecture.md draws them: each
 * package names the packages it may use, and nothing runs back up. A backward import is a red
 * build here, not a review comment.
 */
class ArchitectureTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importClasses() {
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.tandem");
        assertFalse(classes.isEmpty());
    }

    @Test
    void everyPackageUsesOnlyTheLayersBelowIt() {
        ArchRule layers = layeredArchitecture().consideringOnlyDependenciesInAnyPackage("io.tandem..")
                .layer("Packet").definedBy("io.tandem.packet..")
                .layer("Role").definedBy("io.tandem.role..")
                .layer("OS").definedBy("io.tandem.os..")
                .layer("Events").definedBy("io.tandem.events..")
                .layer("Conntrack").definedBy("io.tandem.conntrack..")
                .layer("Config").definedBy("io.tandem.config..")
                .layer("Balancer").definedBy("io.tandem.balancer..")
                .layer("Tun").definedBy("io.tandem.dataplane.tun..")
                .layer("Routing").definedBy("io.tandem.dataplane.netsetup..")
                .layer("FastPath").definedBy("io.tandem.dataplane.fastpath..")
                .layer("Engine").definedBy("io.tandem.dataplane")
                .layer("StateSync").definedBy("io.tandem.statesync..")
                .layer("Sync").definedBy("io.tandem.sync..")
                .layer("HA").definedBy("io.tandem.ha..")
                .layer("Health").definedBy("io.tandem.health..")
                .layer("Control").definedBy("io.tandem.control..")
                .layer("CLI").definedBy("io.tandem.cli..")
                .layer("Assembly").definedBy("io.tandem")
                .whereLayer("Packet").mayNotAccessAnyLayer()
                .whereLayer("Role").mayNotAccessAnyLayer()
                .whereLayer("OS").mayNotAccessAnyLayer()
                .whereLayer("Events").mayNotAccessAnyLayer()
                .whereLayer("StateSync").mayNotAccessAnyLayer()
                .whereLayer("Conntrack").mayOnlyAccessLayers("Packet")
                .whereLayer("Config").mayOnlyAccessLayers("Role", "Conntrack", "Packet")
                .whereLayer("Balancer").mayOnlyAccessLayers("Config", "Conntrack", "Packet")
                .whereLayer("Tun").mayOnlyAccessLayers("Packet")
                .whereLayer("Routing").mayOnlyAccessLayers("Balancer", "Config", "OS", "Packet")
                .whereLayer("FastPath").mayOnlyAccessLayers("Config", "Conntrack", "Packet")
                .whereLayer("Engine").mayOnlyAccessLayers("Balancer", "Config", "Conntrack", "Events", "FastPath", "Routing", "Tun", "OS",
                        "Packet")
                .whereLayer("Sync").mayOnlyAccessLayers("Config", "Conntrack", "Events", "Role", "StateSync")
                .whereLayer("HA").mayOnlyAccessLayers("Config", "Events", "OS", "Packet", "Role", "StateSync")
                .whereLayer("Health").mayOnlyAccessLayers("Config", "Events")
                .whereLayer("Control").mayOnlyAccessLayers("Balancer", "Config", "Conntrack", "Engine", "Events", "HA", "Health",
                        "Packet", "Role", "StateSync")
                .whereLayer("CLI").mayOnlyAccessLayers("Balancer", "Config", "Conntrack", "Routing", "HA", "OS", "StateSync")
                .whereLayer("Assembly").mayOnlyAccessLayers("Balancer", "Config", "Conntrack", "Control", "Engine", "Events", "HA",
                        "Health", "OS", "Role", "StateSync", "Sync");
        layers.check(classes);
    }

    @Test
    void noPackageCycles() {
        slices().matching("io.tandem.(**)").should().beFreeOfCycles().check(classes);
    }

    @Test
    void stateSyncKnowsNothingOfNettyOrPackets() {
        noClasses().that().resideInAPackage("io.tandem.statesync..")
                .should().dependOnClassesThat().resideInAnyPackage("io.netty..", "io.tandem.packet..", "io.tandem.conntrack..")
                .check(classes);
    }

    @Test
    void theTunTransportNeverKnowsTheEngine() {
        noClasses().that().resideInAPackage("io.tandem.dataplane.tun..")
                .should().dependOnClassesThat().resideInAnyPackage("io.tandem.dataplane", "io.tandem.conntrack..", "io.tandem.balancer..")
                .check(classes);
    }
}
