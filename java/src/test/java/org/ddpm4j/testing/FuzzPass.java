package org.ddpm4j.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs Jazzer's own driver on a {@link ReaderFuzzing} test in a child JVM: in-process,
 * Jazzer fuzzes only one target per JVM, and {@code mvn test} should fuzz every reader a
 * little. The pass starts from the class's committed seeds ({@code <Class>Inputs/} next
 * to it) with a fixed libFuzzer seed, so it is repeatable. In the child, this class is
 * the fuzz target: it runs the check of the test named by {@code -Dddpm.fuzz.target}.
 */
public final class FuzzPass {
    /** Executions per reader: 10,000 in {@code mvn test}; -Dddpm.fuzz.runs=1000000 for a long run, 0 to skip. */
    public static final int RUNS = Integer.getInteger("ddpm.fuzz.runs", 10_000);
    /** libFuzzer's seed: fixed, so that mvn test is repeatable; -Dddpm.fuzz.seed=N explores elsewhere. */
    public static final int SEED = Integer.getInteger("ddpm.fuzz.seed", 1);
    /** What the fuzzer instruments for coverage: our code and the JSON parser it drives. */
    public static final String INSTRUMENT = "org.ddpm4j.**:com.google.gson.**";
    /** Seconds one input may take before it counts as a hang. */
    public static final int HANG_SECONDS = 10;

    private static ReaderFuzzing target;

    private FuzzPass() {}

    /** Called by Jazzer in the child JVM before the first input. */
    public static void fuzzerInitialize() throws ReflectiveOperationException {
        target = (ReaderFuzzing) Class.forName(System.getProperty("ddpm.fuzz.target")).getConstructor().newInstance();
    }

    /** Called by Jazzer in the child JVM for every input. */
    public static void fuzzerTestOneInput(byte[] input) throws Exception {
        target.check(input);
    }

    /** Fuzzes {@code target} for {@link #RUNS} executions; fails with Jazzer's report on a finding. */
    public static void run(Class<? extends ReaderFuzzing> target) throws IOException, InterruptedException, URISyntaxException {
        assumeTrue(RUNS > 0, "-Dddpm.fuzz.runs=0");
        URL seeds = target.getResource(target.getSimpleName() + "Inputs");
        assertTrue(seeds != null && "file".equals(seeds.getProtocol()), "seed corpus of " + target.getName() + " not found");
        Path work = Files.createTempDirectory("jazzer-" + target.getSimpleName());
        Path corpus = Files.createDirectories(work.resolve("corpus"));
        Path log = work.resolve("jazzer.log");
        // -rss_limit_mb=0: the JVM's footprint is not a leak; a real one ends in an OutOfMemoryError, which is a finding.
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx2g", "-Dddpm.fuzz.target=" + target.getName(), "-cp", System.getProperty("java.class.path"),
                "com.code_intelligence.jazzer.Jazzer", "--target_class=" + FuzzPass.class.getName(),
                "--instrumentation_includes=" + INSTRUMENT,
                "--reproducer_path=" + work, "-artifact_prefix=" + work + "/", "-seed=" + SEED, "-runs=" + RUNS,
                "-timeout=" + HANG_SECONDS, "-rss_limit_mb=0", corpus.toString(), Path.of(seeds.toURI()).toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(600 + RUNS / 100, TimeUnit.SECONDS)) {  // a guard against a stuck child, not a timing check
            p.destroyForcibly();
            throw new AssertionError("Jazzer did not finish on " + target.getName() + "; log: " + log);
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), () -> "Jazzer found a problem in " + target.getName() + " (inputs in " + work
                + "):\n" + tail(out));
        Matcher done = Pattern.compile("Done \\d+ runs in \\d+ second\\(s\\)").matcher(out);
        assertTrue(done.find(), () -> "Jazzer did not fuzz " + target.getName() + ":\n" + tail(out));
        System.out.println(target.getSimpleName() + ": " + done.group(0) + " without a finding");
        deleteTree(work);
    }

    /** The finding (Jazzer's report starts at "== Java Exception"), else the end of the log. */
    private static String tail(String s) {
        int finding = s.indexOf("== Java Exception");
        if (finding >= 0) return s.substring(finding);
        return s.length() <= 6000 ? s : "..." + s.substring(s.length() - 6000);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }
}
