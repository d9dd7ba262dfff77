import java.nio.file.Path;
import org.ddpm4j.api.Compute;
import org.ddpm4j.api.DiffusionModel;
import org.ddpm4j.api.SampleRequest;
import org.ddpm4j.api.Samples;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.sample.TimestepSpacing;

/**
 * How far the ODE samplers (DDIM at eta 0, DPM-Solver++; with Karras sigmas or diffusers' trailing timesteps) land from the solution of the same
 * probability-flow ODE from the same x_T, taken as DDIM over all T steps: RMS and max over the
 * images, in [-1, 1] pixel units, at 10, 20, 50 and 100 steps, with the time of each run; and how
 * each sampler's images look beside DDPM's (saturated share, spread).
 *
 *   mvn -B -q package -DskipTests
 *   java -cp "java/target/ddpm4j-0.1.0.jar:java/target/lib/*" benchmarks/samplers/SolverConvergence.java runs/tiny/model.ckpt 32
 */
public class SolverConvergence {
    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: SolverConvergence CHECKPOINT [IMAGES (32)]");
            System.exit(2);
        }
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        try (DiffusionModel m = DiffusionModel.load(Path.of(args[0]), Compute.cpu())) {
            int T = m.info().config().timesteps();
            SampleRequest base = SampleRequest.of(n).withSeed(1).withBatch(n).withMidStep(-1).withStrip(0, 2);
            Samples ref = m.sample(base.withSampler(SamplerKind.DDIM, T));
            System.out.printf("%s%nreference: DDIM over all %d steps, %d images, %.1f s%n", m.info().describe(), T, n, ref.seconds());
            // How the images look beside DDPM's (the notebook's 1,000 ancestral steps): the share of saturated values
            // (|x| >= 0.98) and their spread; a deterministic ODE sampler follows a young model's errors into
            // high-contrast images, where the stochastic samplers' fresh noise washes them out.
            Samples ddpm = m.sample(base.withSampler(SamplerKind.DDPM));
            System.out.printf("%-9s %4d steps: saturated %.3f, std %.3f, %.2f s%n", "ddpm", T, saturated(ddpm.values()),
                    std(ddpm.values()), ddpm.seconds());
            Object[][] looks = {{SamplerKind.DDIM, 50, false}, {SamplerKind.DPM_SOLVER, 20, false},
                    {SamplerKind.DPM_SOLVER, 20, true}, {SamplerKind.DPM_SOLVER_SDE, 20, false},
                    {SamplerKind.DPM_SOLVER_SDE, 20, true}, {SamplerKind.DPM_SOLVER_SDE, 50, false}};
            for (Object[] l : looks) {
                Samples s = m.sample(base.withSampler((SamplerKind) l[0], (Integer) l[1]).withKarras((Boolean) l[2]));
                System.out.printf("%-16s %4d steps: saturated %.3f, std %.3f, %.2f s%n", name((SamplerKind) l[0], (Boolean) l[2]),
                        l[1], saturated(s.values()), std(s.values()), s.seconds());
            }
            // {sampler, Karras sigmas, timestep spacing (null: the sampler's own)}
            Object[][] runs = {{SamplerKind.DDIM, false, null}, {SamplerKind.DDIM, false, TimestepSpacing.TRAILING},
                    {SamplerKind.DPM_SOLVER, false, null}, {SamplerKind.DPM_SOLVER, false, TimestepSpacing.TRAILING},
                    {SamplerKind.DPM_SOLVER, true, null}, {SamplerKind.DPM_SOLVER_3M, false, null},
                    {SamplerKind.DPM_SOLVER_3M, true, null}};
            for (Object[] run : runs) {
                SamplerKind kind = (SamplerKind) run[0];
                boolean karras = (Boolean) run[1];
                TimestepSpacing spacing = (TimestepSpacing) run[2];
                for (int steps : new int[] {10, 20, 50, 100}) {
                    if (steps > kind.maxSteps(T)) continue;
                    Samples s = m.sample(base.withSampler(kind, steps).withKarras(karras).withTimestepSpacing(spacing));
                    float[] x = s.values(), y = ref.values();
                    double se = 0, max = 0;
                    for (int i = 0; i < x.length; i++) {
                        double d = Math.abs(x[i] - y[i]);
                        se += d * d;
                        max = Math.max(max, d);
                    }
                    System.out.printf("%-16s %4d steps: RMS %.4f, max %.3f, %.2f s%n",
                            name(kind, karras) + (spacing != null ? " " + spacing.label() : ""), steps,
                            Math.sqrt(se / x.length), max, s.seconds());
                }
            }
        }
    }

    static String name(SamplerKind kind, boolean karras) {
        return kind.label() + (karras ? " karras" : "");
    }

    static double saturated(float[] x) {
        int c = 0;
        for (float v : x) if (Math.abs(v) >= 0.98f) c++;
        return (double) c / x.length;
    }

    static double std(float[] x) {
        double m = 0, q = 0;
        for (float v : x) m += v;
        m /= x.length;
        for (float v : x) q += (v - m) * (v - m);
        return Math.sqrt(q / x.length);
    }
}
