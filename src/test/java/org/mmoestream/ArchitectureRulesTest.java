package org.mmoestream;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The package graph: no cycles between the packages, and the pure layers free of Flink (STYLE.md:
 * pure code, thin adapters, wiring).
 */
class ArchitectureRulesTest {
    private final JavaClasses classes = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("org.mmoestream");

    @Test
    void modelFeatureAndOfflineImportNoFlink() {
        noClasses()
                .that()
                .resideInAnyPackage("org.mmoestream.model..", "org.mmoestream.feature..", "org.mmoestream.offline..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("org.apache.flink..")
                .check(classes);
    }

    @Test
    void packagesFormNoCycles() {
        slices().matching("org.mmoestream.(*)..").should().beFreeOfCycles().check(classes);
    }

    @Test
    void pureClassesOfTheJobsImportNoFlink() {
        noClasses()
                .that()
                .haveFullyQualifiedName("org.mmoestream.score.Scorer")
                .or()
                .haveFullyQualifiedName("org.mmoestream.join.AttributionPolicy")
                .or()
                .haveFullyQualifiedName("org.mmoestream.join.Feedback")
                .or()
                .haveFullyQualifiedName("org.mmoestream.publish.ModelReader")
                .or()
                .haveFullyQualifiedName("org.mmoestream.publish.ChunkAssembler")
                .or()
                .resideInAPackage("org.mmoestream.model.codec..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("org.apache.flink..")
                .check(classes);
    }
}
