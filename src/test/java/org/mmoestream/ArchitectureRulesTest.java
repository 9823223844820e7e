package org.mmoestream;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The pure layers stay free of Flink (STYLE.md: pure code, thin adapters, wiring). */
class ArchitectureRulesTest {
  private final JavaClasses classes = new ClassFileImporter()
      .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
      .importPackages("org.mmoestream");

  @Test
  void modelFeatureAndOfflineImportNoFlink() {
    noClasses().that().resideInAnyPackage("org.mmoestream.model..", "org.mmoestream.feature..",
            "org.mmoestream.offline..")
        .should().dependOnClassesThat().resideInAPackage("org.apache.flink..")
        .check(classes);
  }
}
