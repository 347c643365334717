// The 3D view: label surfaces (lib/mesh.js) drawn lit in their colours with WebGL2, in world
// millimetres (RAS). Drag rotates, the wheel zooms, Shift+drag or right-drag pans; an axes triad
// with R/A/S (and L/P/I) letters shows which way is which; the current slice planes are drawn as
// outlines, and one of them can cut the surfaces away on the viewer's side.

/** The camera, shared by both vertex shaders: orthographic, world mm → clip space. */
const CAMERA = `
uniform mat3 rotation;
uniform vec3 centre;
uniform vec3 scale;
uniform vec2 pan;
vec4 project(vec3 p) {
  vec3 v = rotation * (p - centre);
  return vec4((v.xy + pan) / scale.xy, -v.z / scale.z, 1.0);
}`;

const SURFACE_VERTEX = `#version 300 es
in vec3 position;
in vec3 normal;
out vec3 viewNormal;
out vec3 world;
${CAMERA}
void main() {
  viewNormal = rotation * normal;
  world = position;
  gl_Position = project(position);
}`;

// Lambert with a little Blinn highlight, the light near the eye; back faces (seen through a cut) darker.
const SURFACE_FRAGMENT = `#version 300 es
precision highp float;
in vec3 viewNormal;
in vec3 world;
uniform vec3 colour;
uniform vec4 clip;
out vec4 fragment;
void main() {
  if (dot(clip.xyz, world) > clip.w) discard;
  vec3 n = normalize(viewNormal) * (gl_FrontFacing ? 1.0 : -1.0);
  vec3 light = normalize(vec3(-0.3, 0.4, 1.0));
  float diffuse = max(dot(n, light), 0.0);
  float highlight = pow(max(dot(n, normalize(light + vec3(0.0, 0.0, 1.0))), 0.0), 40.0);
  vec3 lit = colour * (0.25 + 0.75 * diffuse) + 0.15 * highlight;
  fragment = vec4(gl_FrontFacing ? lit : lit * 0.45, 1.0);
}`;

const LINE_VERTEX = `#version 300 es
in vec3 position;
in vec3 colour;
out vec3 lineColour;
${CAMERA}
void main() {
  lineColour = colour;
  gl_Position = project(position);
}`;

const LINE_FRAGMENT = `#version 300 es
precision highp float;
in vec3 lineColour;
out vec4 fragment;
void main() { fragment = vec4(lineColour, 1.0); }`;

/** The camera's rows (screen right, up, towards the viewer) in world axes: seen from the front, S up, R on the left. */
const ANTERIOR = [[-1, 0, 0], [0, 0, 1], [0, 1, 0]];

/** The world axes and their letters at the positive and negative ends, with the triad's colours. */
const AXES = [
  { letters: ['R', 'L'], colour: '#ff6060' },
  { letters: ['A', 'P'], colour: '#60e060' },
  { letters: ['S', 'I'], colour: '#60a0ff' },
];

const PLANE_RGB = [0.3, 0.78, 1];
const ACTIVE_PLANE_RGB = [1, 0.86, 0.25];

export class View3D {
  /** Draws into a canvas it adds to `root` (positioned: the letters lie on top); throws without WebGL2. */
  constructor(root) {
    this.canvas = document.createElement('canvas');
    this.letters = document.createElement('canvas');
    Object.assign(this.canvas.style, { width: '100%', height: '100%', display: 'block', touchAction: 'none' });
    Object.assign(this.letters.style, { position: 'absolute', inset: '0', width: '100%', height: '100%', pointerEvents: 'none' });
    const gl = this.canvas.getContext('webgl2', { antialias: true, preserveDrawingBuffer: true });
    if (!gl) throw new Error('this browser offers no WebGL2, which the 3D view needs');
    root.append(this.canvas, this.letters);
    this.gl = gl;
    this.surfaceProgram = program(gl, SURFACE_VERTEX, SURFACE_FRAGMENT);
    this.lineProgram = program(gl, LINE_VERTEX, LINE_FRAGMENT);
    this.lines = lineArray(gl, this.lineProgram);
    this.surfaces = [];
    this.hidden = new Set();
    this.planeCorners = [];
    this.clipPlane = null;
    this.bounds = { centre: [0, 0, 0], radius: 1 };
    this.frame = 0; // frames drawn (tests wait on it)
    this.reset();
    this.attachInput();
    new ResizeObserver(() => this.draw()).observe(root);
  }

  /** Shows surfaces [{value, rgb, positions, normals, indices}] (typed arrays as lib/mesh.js gives them) and frames them. */
  setSurfaces(surfaces) {
    const { gl } = this;
    this.clearSurfaces();
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    this.surfaces = surfaces.map(({ value, rgb, positions, normals, indices }) => {
      for (let i = 0; i < positions.length; i++) {
        const c = i % 3;
        if (positions[i] < lo[c]) lo[c] = positions[i];
        if (positions[i] > hi[c]) hi[c] = positions[i];
      }
      const vao = gl.createVertexArray();
      gl.bindVertexArray(vao);
      const buffers = [attribute(gl, this.surfaceProgram, 'position', positions), attribute(gl, this.surfaceProgram, 'normal', normals)];
      const elements = gl.createBuffer();
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, elements);
      gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, indices, gl.STATIC_DRAW);
      buffers.push(elements);
      gl.bindVertexArray(null);
      return { value, colour: rgb.map((c) => c / 255), vao, buffers, count: indices.length };
    });
    if (this.surfaces.length) {
      const centre = lo.map((l, c) => (l + hi[c]) / 2);
      this.bounds = { centre, radius: Math.max(1, Math.hypot(...hi.map((h, c) => h - lo[c])) / 2) };
    }
    this.reset();
  }

  /** Hides the surfaces of these label values (a Set or array); the others show. */
  setHidden(values) {
    this.hidden = new Set(values);
    this.draw();
  }

  /**
   * The slice planes to outline: [{corners: four [x, y, z] in order, active}]; `clip`: null, or
   * {normal, offset} of a plane (dot(normal, p) = offset) that cuts away the side facing the viewer.
   */
  setPlanes(planes, clip = null) {
    const { gl } = this;
    const data = [];
    for (const { corners, active } of planes) {
      const rgb = active ? ACTIVE_PLANE_RGB : PLANE_RGB;
      for (let i = 0; i < 4; i++) data.push(...corners[i], ...rgb, ...corners[(i + 1) % 4], ...rgb);
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, this.lines.buffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(data), gl.DYNAMIC_DRAW);
    this.lines.count = data.length / 6;
    this.planeCorners = planes.flatMap((p) => p.corners);
    this.clipPlane = clip;
    this.draw();
  }

  /** Back to the front view (anterior, superior up), whole scene in view. */
  reset() {
    this.rotation = ANTERIOR.map((row) => [...row]);
    this.zoom = 1;
    this.pan = [0, 0];
    this.draw();
  }

  /** Draws at the next animation frame (many calls, one frame). */
  draw() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.render();
    });
  }

  /** Frees the GPU buffers of the surfaces shown. */
  clearSurfaces() {
    const { gl } = this;
    for (const s of this.surfaces) {
      gl.deleteVertexArray(s.vao);
      s.buffers.forEach((b) => gl.deleteBuffer(b));
    }
    this.surfaces = [];
  }

  // Internals.

  /** The projection: half the view's width and height, and the depth range (the surfaces and the planes), in mm. */
  scale() {
    const { width, height } = this.canvas;
    const { centre, radius } = this.bounds;
    const r = (radius * 1.05) / this.zoom;
    const aspect = width / height;
    const depth = 1.1 * Math.max(radius, ...this.planeCorners.map((p) => Math.hypot(...p.map((x, i) => x - centre[i]))));
    return aspect >= 1 ? [r * aspect, r, depth] : [r, r / aspect, depth];
  }

  render() {
    const { gl, canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
    gl.viewport(0, 0, width, height);
    gl.clearColor(0, 0, 0, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    const scale = this.scale();
    const camera = (p) => {
      gl.useProgram(p);
      gl.uniformMatrix3fv(gl.getUniformLocation(p, 'rotation'), true, this.rotation.flat());
      gl.uniform3fv(gl.getUniformLocation(p, 'centre'), this.bounds.centre);
      gl.uniform3fv(gl.getUniformLocation(p, 'scale'), scale);
      gl.uniform2fv(gl.getUniformLocation(p, 'pan'), this.pan);
    };
    camera(this.surfaceProgram);
    // A clip plane cuts away its side towards the viewer, so the cut faces the camera.
    const clip = this.clipPlane;
    const towardsViewer = clip && dot(clip.normal, this.rotation[2]) > 0 ? 1 : -1;
    gl.uniform4fv(gl.getUniformLocation(this.surfaceProgram, 'clip'),
      clip ? [...clip.normal.map((n) => n * towardsViewer), clip.offset * towardsViewer] : [0, 0, 0, 1]);
    // Closed surfaces: back faces show only through a cut.
    if (clip) gl.disable(gl.CULL_FACE);
    else gl.enable(gl.CULL_FACE);
    const colour = gl.getUniformLocation(this.surfaceProgram, 'colour');
    for (const s of this.surfaces) {
      if (this.hidden.has(s.value)) continue;
      gl.uniform3fv(colour, s.colour);
      gl.bindVertexArray(s.vao);
      gl.drawElements(gl.TRIANGLES, s.count, gl.UNSIGNED_INT, 0);
    }
    if (this.lines.count) {
      camera(this.lineProgram);
      gl.bindVertexArray(this.lines.vao);
      gl.drawArrays(gl.LINES, 0, this.lines.count);
    }
    gl.bindVertexArray(null);
    this.drawTriad();
    this.frame += 1;
  }

  /** The axes triad in the lower left corner: a line per world axis, letters at both ends, nearest drawn last. */
  drawTriad() {
    const { letters, canvas } = this;
    Object.assign(letters, { width: canvas.width, height: canvas.height });
    const ctx = letters.getContext('2d');
    const ratio = window.devicePixelRatio || 1;
    const size = 28 * ratio;
    const origin = [16 * ratio + size, canvas.height - 16 * ratio - size];
    const ends = AXES.flatMap(({ letters: [plus, minus], colour }, axis) => [1, -1].map((sign) => {
      const screen = this.rotation.map((row) => row[axis] * sign);
      return { letter: sign > 0 ? plus : minus, colour, sign, x: origin[0] + screen[0] * size, y: origin[1] - screen[1] * size, depth: screen[2] };
    }));
    ctx.font = `bold ${12 * ratio}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 2 * ratio;
    for (const end of ends.sort((a, b) => a.depth - b.depth)) {
      ctx.globalAlpha = end.sign > 0 ? 1 : 0.55;
      ctx.strokeStyle = ctx.fillStyle = end.colour;
      if (end.sign > 0) {
        ctx.beginPath();
        ctx.moveTo(...origin);
        ctx.lineTo(origin[0] + (end.x - origin[0]) * 0.7, origin[1] + (end.y - origin[1]) * 0.7);
        ctx.stroke();
      }
      ctx.fillText(end.letter, end.x, end.y);
    }
    ctx.globalAlpha = 1;
  }

  attachInput() {
    const { canvas } = this;
    let drag = null;
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    canvas.addEventListener('pointerdown', (e) => {
      canvas.setPointerCapture(e.pointerId);
      drag = { pan: e.button !== 0 || e.shiftKey, x: e.clientX, y: e.clientY };
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      Object.assign(drag, { x: e.clientX, y: e.clientY });
      if (drag.pan) {
        const mmPerPx = (2 * this.scale()[1]) / canvas.clientHeight;
        this.pan = [this.pan[0] + dx * mmPerPx, this.pan[1] - dy * mmPerPx];
      } else {
        this.rotate(dx * 0.01, dy * 0.01);
      }
      this.draw();
    });
    const end = () => (drag = null);
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    canvas.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.zoom = Math.max(0.2, Math.min(50, this.zoom * Math.exp(-e.deltaY / 300)));
      this.draw();
    }, { passive: false });
  }

  /** Turns the scene `yaw` radians about the screen's vertical axis and `pitch` about its horizontal one. */
  rotate(yaw, pitch) {
    const [cy, sy, cp, sp] = [Math.cos(yaw), Math.sin(yaw), Math.cos(pitch), Math.sin(pitch)];
    const [right, up, back] = this.rotation;
    // About screen y: right' = right·cos + back·sin, back' = back·cos − right·sin; then about screen x: up' = up·cos − back'·sin.
    const turnedBack = combine(right, -sy, back, cy);
    this.rotation = orthonormal(combine(right, cy, back, sy), combine(up, cp, turnedBack, -sp));
  }
}

/**
 * Outlines of the slices through voxel `ijk`, one per voxel axis (0: i, 1: j, 2: k), in world mm
 * through `affine` (4×4 or 3×4 rows) over a grid of `dims`: [{axis, corners, normal, offset}],
 * `normal` pointing to higher indices along the axis and dot(normal, p) = offset on the plane.
 */
export function slicePlanes(affine, dims, ijk) {
  const world = (v) => [0, 1, 2].map((r) => affine[r][0] * v[0] + affine[r][1] * v[1] + affine[r][2] * v[2] + affine[r][3]);
  const column = (c) => [0, 1, 2].map((r) => affine[r][c]);
  return [0, 1, 2].map((axis) => {
    const [a, b] = [0, 1, 2].filter((c) => c !== axis);
    const corners = [[-0.5, -0.5], [dims[a] - 0.5, -0.5], [dims[a] - 0.5, dims[b] - 0.5], [-0.5, dims[b] - 0.5]].map(([u, v]) => {
      const voxel = [0, 0, 0];
      voxel[axis] = ijk[axis];
      voxel[a] = u;
      voxel[b] = v;
      return world(voxel);
    });
    let normal = cross(column(a), column(b));
    if (dot(normal, column(axis)) < 0) normal = normal.map((n) => -n);
    const length = Math.hypot(...normal) || 1;
    normal = normal.map((n) => n / length);
    return { axis, corners, normal, offset: dot(normal, corners[0]) };
  });
}

function program(gl, vertexSource, fragmentSource) {
  const p = gl.createProgram();
  for (const [type, source] of [[gl.VERTEX_SHADER, vertexSource], [gl.FRAGMENT_SHADER, fragmentSource]]) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(`3D view shader: ${gl.getShaderInfoLog(shader)}`);
    gl.attachShader(p, shader);
  }
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(`3D view shaders: ${gl.getProgramInfoLog(p)}`);
  return p;
}

/** The vertex array of the plane outlines: one buffer of (position, colour) pairs, filled by setPlanes. */
function lineArray(gl, p) {
  const lines = { vao: gl.createVertexArray(), buffer: gl.createBuffer(), count: 0 };
  gl.bindVertexArray(lines.vao);
  gl.bindBuffer(gl.ARRAY_BUFFER, lines.buffer);
  for (const [name, offset] of [['position', 0], ['colour', 12]]) {
    const location = gl.getAttribLocation(p, name);
    gl.enableVertexAttribArray(location);
    gl.vertexAttribPointer(location, 3, gl.FLOAT, false, 24, offset);
  }
  gl.bindVertexArray(null);
  return lines;
}

/** A vec3 attribute of the bound vertex array from `data`; returns its buffer. */
function attribute(gl, p, name, data) {
  const buffer = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
  gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
  const location = gl.getAttribLocation(p, name);
  gl.enableVertexAttribArray(location);
  gl.vertexAttribPointer(location, 3, gl.FLOAT, false, 0, 0);
  return buffer;
}

const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const combine = (a, s, b, t) => a.map((x, i) => x * s + b[i] * t);

/** The camera's rows from its right and up (Gram–Schmidt, so that rounding never skews it). */
function orthonormal(right, up) {
  const unit = (v) => v.map((x) => x / Math.hypot(...v));
  const r = unit(right);
  const u = unit(combine(up, 1, r, -dot(up, r)));
  return [r, u, cross(r, u)];
}
