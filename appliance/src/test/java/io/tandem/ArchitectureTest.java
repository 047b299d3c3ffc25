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
                .layer("packet").definedBy("io.tandem.packet..")
                .layer("role").definedBy("io.tandem.role..")
                .layer("os").definedBy("io.tandem.os..")
                .layer("events").definedBy("io.tandem.events..")
                .layer("conntrack").definedBy("io.tandem.conntrack..")
                .layer("config").definedBy("io.tandem.config..")
                .layer("balancer").definedBy("io.tandem.balancer..")
                .layer("tun").definedBy("io.tandem.dataplane.tun..")
                .layer("routing").definedBy("io.tandem.dataplane.netsetup..")
                .layer("engine").definedBy("io.tandem.dataplane")
                .layer("statesync").definedBy("io.tandem.statesync..")
                .layer("sync").definedBy("io.tandem.sync..")
                .layer("ha").definedBy("io.tandem.ha..")
                .layer("health").definedBy("io.tandem.health..")
                .layer("control").definedBy("io.tandem.control..")
                .layer("cli").definedBy("io.tandem.cli..")
                .layer("assembly").definedBy("io.tandem")
                .whereLayer("packet").mayNotAccessAnyLayer()
                .whereLayer("role").mayNotAccessAnyLayer()
                .whereLayer("os").mayNotAccessAnyLayer()
                .whereLayer("events").mayNotAccessAnyLayer()
                .whereLayer("statesync").mayNotAccessAnyLayer()
                .whereLayer("conntrack").mayOnlyAccessLayers("packet")
                .whereLayer("config").mayOnlyAccessLayers("role", "conntrack", "packet")
                .whereLayer("balancer").mayOnlyAccessLayers("config", "conntrack", "packet")
                .whereLayer("tun").mayOnlyAccessLayers("packet")
                .whereLayer("routing").mayOnlyAccessLayers("balancer", "config", "os", "packet")
                .whereLayer("engine").mayOnlyAccessLayers("balancer", "config", "conntrack", "events", "routing", "tun", "os", "packet")
                .whereLayer("sync").mayOnlyAccessLayers("config", "conntrack", "events", "role", "statesync")
                .whereLayer("ha").mayOnlyAccessLayers("config", "events", "os", "packet", "role", "statesync")
                .whereLayer("health").mayOnlyAccessLayers("config", "events")
                .whereLayer("control").mayOnlyAccessLayers("balancer", "config", "conntrack", "engine", "events", "ha", "health",
                        "packet", "role", "statesync")
                .whereLayer("cli").mayOnlyAccessLayers("balancer", "config", "conntrack", "routing", "ha", "os", "statesync")
                .whereLayer("assembly").mayOnlyAccessLayers("balancer", "config", "conntrack", "control", "engine", "events", "ha",
                        "health", "os", "role", "statesync", "sync");
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
