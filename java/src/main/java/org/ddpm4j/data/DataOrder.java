package org.ddpm4j.data;

/**
 * The order images are seen in and whether each is flipped: pure functions of
 * (seed, epoch, position), so a resumed run sees exactly what an uninterrupted
 * one would. SplitMix64 throughout (no java.util.Random state).
 */
public final class DataOrder {
    private static final long ORDER_SALT = 0x6F72646572L;  // "order"
    private static final long FLIP_SALT = 0x666C6970L;     // "flip"

    private DataOrder() {}

    /** SplitMix64's finaliser: a bijective 64-bit mix. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The shuffled order of n images in epoch {@code epoch} (Fisher-Yates). */
    public static int[] permutation(int n, long seed, int epoch) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        long state = mix(mix(seed ^ ORDER_SALT) + epoch);
        for (int i = n - 1; i > 0; i--) {
            state += 0x9E3779B97F4A7C15L;
            int j = (int) Long.remainderUnsigned(mix(state), i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** Whether the image at {@code position} of epoch {@code epoch}'s order is mirrored. */
    public static boolean flip(long seed, int epoch, int position) {
        long h = mix(mix(mix(seed ^ FLIP_SALT) + epoch) + position);
        return (h & 1) != 0;
    }
}
