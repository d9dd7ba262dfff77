package org.ddpm4j.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Marks a test (or a test class) whose subject is the real CIFAR-10 files ({@link TestData#cifarDir()}).
 * Where they are missing it is skipped with the reason printed, so the suite runs on a machine
 * without them; but where the environment variable CI is set (and not "false"), missing data fails
 * the test instead, so that CI can never skip these checks silently.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(RequiresCifar.Condition.class)
public @interface RequiresCifar {

    /** The JUnit condition behind the annotation. */
    final class Condition implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            ConditionEvaluationResult r = decide(TestData.cifarMissing(), System.getenv("CI"));
            // Surefire counts a disabled test as skipped but does not show why; the log should.
            if (r.isDisabled()) System.out.println("skipped " + context.getDisplayName() + ": " + r.getReason().orElse(""));
            return r;
        }

        /**
         * Runs the test when nothing is missing; else skips it, or throws (failing it) on CI.
         *
         * @param missing null when the data is there, else why not
         * @param ci the value of $CI, or null
         */
        static ConditionEvaluationResult decide(String missing, String ci) {
            if (missing == null) return ConditionEvaluationResult.enabled("the CIFAR-10 test data is there");
            if (onCi(ci)) throw new AssertionError(missing + " (CI is set, so tests that need it fail rather than skip)");
            return ConditionEvaluationResult.disabled(missing);
        }

        static boolean onCi(String ci) {
            return ci != null && !ci.isBlank() && !ci.strip().equalsIgnoreCase("false");
        }
    }
}
