package org.ddpm4j.checkpoint;

import org.ddpm4j.train.TrainingState;

/**
 * Everything a run needs to continue bit for bit: the configuration, the weights,
 * the Adam state, and where the run stands (global step, epoch, position in the
 * epoch; with the seed in the training settings that is the whole RNG state, since
 * the data order, flips, t and noise are all functions of (seed, position)).
 */
public record Checkpoint(CheckpointMeta meta, ModelState model, OptimizerState optimizer, TrainingState progress) {}
