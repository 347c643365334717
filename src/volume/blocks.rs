//! Blocks of a 3D grid (x fastest): cutting a box out, pasting one back, and the order of axes a
//! network reads them in.

use rayon::prelude::*;

/// A box `[[x0, x1), [y0, y1), [z0, z1)]` in voxels.
pub type VoxelBox = [[usize; 2]; 3];

/// The box's voxels of `values` (x fastest, `shape`), x fastest, with the box's size.
pub fn extract<T: Copy>(values: &[T], shape: [usize; 3], bbox: VoxelBox) -> (Vec<T>, [usize; 3]) {
    let size = bbox.map(|[a, b]| b - a);
    let mut out = Vec::with_capacity(size.iter().product());
    for z in bbox[2][0]..bbox[2][1] {
        for y in bbox[1][0]..bbox[1][1] {
            let row = bbox[0][0] + shape[0] * (y + shape[1] * z);
            out.extend_from_slice(&values[row..row + size[0]]);
        }
    }
    (out, size)
}

/// Writes `block` (x fastest, the box's size) into the box of `values` (x fastest, `shape`).
pub fn paste<T: Copy>(values: &mut [T], shape: [usize; 3], block: &[T], bbox: VoxelBox) {
    let width = bbox[0][1] - bbox[0][0];
    if width == 0 {
        return;
    }
    for (row_of_block, (z, y)) in block
        .chunks_exact(width)
        .zip((bbox[2][0]..bbox[2][1]).flat_map(|z| (bbox[1][0]..bbox[1][1]).map(move |y| (z, y))))
    {
        let row = bbox[0][0] + shape[0] * (y + shape[1] * z);
        values[row..row + width].copy_from_slice(row_of_block);
    }
}

/// Which voxel axis a network's D, H and W axes are (W fastest in the network's input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisOrder {
    /// `[D, H, W] = [z, y, x]`: the block's own order (x fastest), fed as it is.
    Zyx,
    /// `[D, H, W] = [x, y, z]` (brainchop's `enableTranspose`): the block reordered, z fastest.
    Xyz,
}

impl AxisOrder {
    /// The network's `[D, H, W]` for a block of `xyz` voxels.
    pub fn dhw(self, xyz: [usize; 3]) -> [usize; 3] {
        match self {
            AxisOrder::Zyx => [xyz[2], xyz[1], xyz[0]],
            AxisOrder::Xyz => xyz,
        }
    }

    /// The block's `[x, y, z]` size for a network input of `dhw` (the inverse of [`AxisOrder::dhw`]).
    pub fn xyz(self, dhw: [usize; 3]) -> [usize; 3] {
        self.dhw(dhw)
    }

    /// A block (x fastest, `xyz`) in the network's order (W fastest).
    pub fn to_network_order<T: Copy + Default + Send + Sync>(self, block: Vec<T>, xyz: [usize; 3]) -> Vec<T> {
        match self {
            AxisOrder::Zyx => block,
            AxisOrder::Xyz => swap_x_z(&block, xyz),
        }
    }

    /// A block in the network's order (W fastest) back to x fastest, `xyz` being the block's size.
    pub fn to_block<T: Copy + Default + Send + Sync>(self, block: Vec<T>, xyz: [usize; 3]) -> Vec<T> {
        match self {
            AxisOrder::Zyx => block,
            AxisOrder::Xyz => swap_x_z(&block, [xyz[2], xyz[1], xyz[0]]),
        }
    }
}

/// x positions a task of [`swap_x_z`] reorders: one cache line of `f32` read per (y, z).
const X_TILE: usize = 16;

/// Reorders a block stored x-fastest with `size` (x, y, z) so that z is fastest. Tiles of
/// [`X_TILE`] x positions run on the rayon pool, each reading its rows of x contiguously.
fn swap_x_z<T: Copy + Default + Send + Sync>(values: &[T], size: [usize; 3]) -> Vec<T> {
    let [nx, ny, nz] = size;
    let mut out = vec![T::default(); values.len()];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(X_TILE * ny * nz).enumerate().for_each(|(tile, out)| {
        let x0 = tile * X_TILE;
        let width = out.len() / (ny * nz);
        for z in 0..nz {
            for y in 0..ny {
                let row = &values[x0 + nx * (y + ny * z)..][..width];
                for (dx, &value) in row.iter().enumerate() {
                    out[(dx * ny + y) * nz + z] = value;
                }
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_then_paste_restores_the_box() {
        let shape = [4, 3, 2];
        let values: Vec<u16> = (0..24).collect();
        let bbox = [[1, 3], [0, 2], [1, 2]];
        let (block, size) = extract(&values, shape, bbox);
        assert_eq!(size, [2, 2, 1]);
        assert_eq!(block, vec![13, 14, 17, 18]);
        let mut out = vec![0u16; 24];
        paste(&mut out, shape, &block, bbox);
        assert_eq!(out.iter().filter(|&&v| v != 0).count(), 4);
        assert_eq!(out[17], 17);
    }

    #[test]
    fn axis_orders_round_trip() {
        let xyz = [2, 3, 4];
        let block: Vec<u32> = (0..24).collect();
        let odd = [X_TILE + 3, 2, 5]; // more than one tile, the last one partial
        let values: Vec<u32> = (0..odd.iter().product::<usize>() as u32).collect();
        let swapped = AxisOrder::Xyz.to_network_order(values.clone(), odd);
        assert_eq!(swapped[(X_TILE + 1) * 2 * 5 + 5 + 3], values[X_TILE + 1 + odd[0] * (1 + 2 * 3)]);
        assert_eq!(AxisOrder::Xyz.to_block(swapped, odd), values);
        for order in [AxisOrder::Zyx, AxisOrder::Xyz] {
            let network = order.to_network_order(block.clone(), xyz);
            assert_eq!(order.to_block(network, xyz), block, "{order:?}");
            assert_eq!(order.xyz(order.dhw(xyz)), xyz);
        }
        // Transposed, W (fastest) is z: voxel (x=1, y=0, z=0) sits at W-index 0 of D-row 1.
        let network = AxisOrder::Xyz.to_network_order(block.clone(), xyz);
        assert_eq!(network[3 * 4], block[1]);
        assert_eq!(AxisOrder::Zyx.dhw(xyz), [4, 3, 2]);
    }
}
