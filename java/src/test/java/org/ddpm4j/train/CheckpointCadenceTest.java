package org.ddpm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.junit.jupiter.api.Test;

/** When the trainer takes checkpoints: due ones wait for a busy writer instead of blocking a step; the last is always taken. */
class CheckpointCadenceTest {
    static ImageSet synthetic(int n) {
        byte[] px = new byte[n * 3 * 8 * 8];
        new SplittableRandom(1).nextBytes(px);
        return new ImageSet(px, new byte[n], List.of("x"), 3, 8, 8);
    }

    @Test
    void aCheckpointDueWhileTheWriterIsBusyIsTakenAtTheFirstFreeStep() {
        UNetConfig cfg = UNetConfig.seed().withBaseWidth(2).withDepth(1).withTimesteps(10).withImage(3, 8, 8);
        TrainSettings s = new TrainSettings("test", 4, org.ddpm4j.optim.AdamConfig.withLr(1e-3), 3, 0, false, 1,
                org.ddpm4j.diffusion.TimeTable.STANDARD, 0, 1, 0, 5);
        List<Long> taken = new ArrayList<>();
        int[] busyQueries = {0};
        TrainingHooks hooks = new TrainingHooks() {
            @Override
            public void checkpoint(TrainingState state) {
                taken.add(state.globalStep());
            }

            @Override
            public boolean checkpointPending() {
                return busyQueries[0]++ < 2;  // the writer needs two more steps for the previous file
            }
        };
        try (Backend be = Backends.cpu(1); UNet net = be.createUNet(cfg, 4)) {
            net.init(1);
            Trainer t = new Trainer(net, synthetic(20), s, hooks, Progress.create(Progress.Mode.NONE, System.err));
            TrainingState end = t.run(TrainingState.START, new StopSignal());
            assertEquals(15, end.globalStep());
        }
        // Epoch ends at 5, 10, 15: the first is deferred by two busy answers (to step 7); 10 on time; 15 is the last.
        assertEquals(List.of(7L, 10L, 15L), taken);
    }
}
