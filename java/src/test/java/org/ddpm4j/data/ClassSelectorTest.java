package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;

class ClassSelectorTest {
    @Test
    void shipByNameIsLabel8With5000Images() {
        ImageSet all = TestData.train();
        assertEquals(8, ClassSelector.resolve(all.classNames(), "ship"));
        assertEquals(8, ClassSelector.resolve(all.classNames(), "SHIP"));
        assertEquals(8, ClassSelector.resolve(all.classNames(), "8"));
        ImageSet ships = ClassSelector.select(all, "ship");
        assertEquals(5_000, ships.size());
        for (int i = 0; i < ships.size(); i++) assertEquals(8, ships.label(i));
        // Same images as in the full set, in order.
        byte[] a = new byte[3072], b = new byte[3072];
        int first = -1;
        for (int i = 0; i < all.size() && first < 0; i++) if (all.label(i) == 8) first = i;
        all.copyImage(first, a, 0);
        ships.copyImage(0, b, 0);
        assertArrayEquals(a, b);
    }

    @Test
    void unknownClassListsTheClasses() {
        DataException e = assertThrows(DataException.class, () -> ClassSelector.resolve(TestData.train().classNames(), "shp"));
        assertTrue(e.getMessage().contains("unknown class 'shp'") && e.getMessage().contains("ship")
                && e.getMessage().contains("truck"), e.getMessage());
    }
}
