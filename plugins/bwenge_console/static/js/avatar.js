// A small WebGL viewer for a persona's glTF binary (.glb) avatar: triangle meshes
// with their base colours, lit from one direction, turning slowly. Enough to see
// the avatar; no library, nothing fetched but the model's signed same-origin URL.

import { h, safeHref } from "./dom.js";

const VERT = `
attribute vec3 position; attribute vec3 normal;
uniform mat4 mvp; uniform mat4 model; varying float light;
void main() {
  gl_Position = mvp * vec4(position, 1.0);
  vec3 n = normalize((model * vec4(normal, 0.0)).xyz);
  light = 0.35 + 0.65 * max(dot(n, normalize(vec3(0.4, 0.8, 0.6))), 0.0);
}`;
const FRAG = `
precision mediump float; uniform vec4 color; varying float light;
void main() { gl_FragColor = vec4(color.rgb * light, color.a); }`;

function parseGlb(buffer) {
  const view = new DataView(buffer);
  if (view.getUint32(0, true) !== 0x46546c67) throw new Error("not a .glb file");
  let offset = 12;
  let json = null;
  let bin = null;
  while (offset < buffer.byteLength) {
    const length = view.getUint32(offset, true);
    const type = view.getUint32(offset + 4, true);
    const start = offset + 8;
    if (type === 0x4e4f534a) json = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, start, length)));
    else if (type === 0x004e4942) bin = buffer.slice(start, start + length);
    offset = start + length;
  }
  if (!json || !bin) throw new Error("incomplete .glb file");
  return { json, bin };
}

const COMPONENTS = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4 };
const ARRAYS = { 5121: Uint8Array, 5123: Uint16Array, 5125: Uint32Array, 5126: Float32Array };

function accessor({ json, bin }, index) {
  const a = json.accessors[index];
  const bv = json.bufferViews[a.bufferView];
  const Type = ARRAYS[a.componentType];
  const count = a.count * COMPONENTS[a.type];
  const start = (bv.byteOffset || 0) + (a.byteOffset || 0);
  return { data: new Type(bin.slice(start, start + count * Type.BYTES_PER_ELEMENT)), accessor: a };
}

function flatNormals(pos, idx) {
  const n = new Float32Array(pos.length);
  for (let i = 0; i < idx.length; i += 3) {
    const [a, b, c] = [idx[i] * 3, idx[i + 1] * 3, idx[i + 2] * 3];
    const u = [pos[b] - pos[a], pos[b + 1] - pos[a + 1], pos[b + 2] - pos[a + 2]];
    const v = [pos[c] - pos[a], pos[c + 1] - pos[a + 1], pos[c + 2] - pos[a + 2]];
    const x = u[1] * v[2] - u[2] * v[1];
    const y = u[2] * v[0] - u[0] * v[2];
    const z = u[0] * v[1] - u[1] * v[0];
    for (const k of [a, b, c]) {
      n[k] += x;
      n[k + 1] += y;
      n[k + 2] += z;
    }
  }
  return n;
}

function matrices(angle, box) {
  const [min, max] = box;
  const center = [0, 1, 2].map((i) => (min[i] + max[i]) / 2);
  const size = Math.max(...[0, 1, 2].map((i) => max[i] - min[i])) || 1;
  const s = 1.1 / size;
  const c = Math.cos(angle);
  const si = Math.sin(angle);
  const tilt = 0.45;
  const ct = Math.cos(tilt);
  const st = Math.sin(tilt);
  // column-major 4x4: tilt about X, turn about Y, scale, move the centre to the origin
  const rotY = [c, 0, -si, 0, 0, 1, 0, 0, si, 0, c, 0, 0, 0, 0, 1];
  const rotX = [1, 0, 0, 0, 0, ct, st, 0, 0, -st, ct, 0, 0, 0, 0, 1];
  const scale = [s, 0, 0, 0, 0, s, 0, 0, 0, 0, s, 0, 0, 0, 0, 1];
  const move = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, -center[0], -center[1], -center[2], 1];
  const model = multiply(rotX, multiply(rotY, multiply(scale, move)));
  const f = 1 / Math.tan(Math.PI / 8);
  const near = 0.1;
  const far = 10;
  const proj = [f, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1, 0, 0, (2 * far * near) / (near - far), 0];
  const view = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, -3, 1];
  return { model, mvp: multiply(proj, multiply(view, model)) };
}

function multiply(a, b) {
  const out = new Array(16).fill(0);
  for (let i = 0; i < 4; i += 1) for (let j = 0; j < 4; j += 1) for (let k = 0; k < 4; k += 1) out[j * 4 + i] += a[k * 4 + i] * b[j * 4 + k];
  return out;
}

/** A <figure> with a canvas that draws the avatar once its model has loaded. */
export function avatarViewer(avatar) {
  const canvas = h("canvas", { width: 240, height: 240, class: "avatar-canvas", role: "img", "aria-label": `3D avatar ${avatar.name || ""}` });
  const caption = h("figcaption", { class: "hint" }, "Loading the avatar…");
  const figure = h("figure", { class: "avatar" }, canvas, caption);
  const url = safeHref(avatar.model_url);
  if (!url || avatar.mime_type !== "model/gltf-binary") {
    caption.textContent = "This avatar can't be previewed here (only .glb models are).";
    return figure;
  }
  fetch(url, { credentials: "omit" })
    .then((r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return r.arrayBuffer();
    })
    .then((buffer) => {
      draw(canvas, parseGlb(buffer));
      caption.textContent = `Animations: ${(avatar.animations || []).join(", ") || "none"}`;
    })
    .catch((err) => {
      caption.textContent = `The avatar could not be shown: ${err.message}`;
    });
  return figure;
}

function draw(canvas, glb) {
  const gl = canvas.getContext("webgl", { antialias: true, preserveDrawingBuffer: true });
  if (!gl) throw new Error("WebGL is not available");
  const shader = (type, src) => {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    return s;
  };
  const program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER, VERT));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER, FRAG));
  gl.linkProgram(program);
  gl.useProgram(program);
  const meshes = [];
  const box = [
    [Infinity, Infinity, Infinity],
    [-Infinity, -Infinity, -Infinity],
  ];
  for (const mesh of glb.json.meshes || []) {
    for (const prim of mesh.primitives || []) {
      if (prim.attributes.POSITION === undefined || (prim.mode ?? 4) !== 4) continue;
      const { data: pos, accessor: pa } = accessor(glb, prim.attributes.POSITION);
      let idx;
      if (prim.indices !== undefined) idx = accessor(glb, prim.indices).data;
      else idx = Uint32Array.from({ length: pos.length / 3 }, (_, i) => i);
      const normals = prim.attributes.NORMAL !== undefined ? accessor(glb, prim.attributes.NORMAL).data : flatNormals(pos, idx);
      for (let i = 0; i < 3; i += 1) {
        box[0][i] = Math.min(box[0][i], (pa.min || [-1, -1, -1])[i]);
        box[1][i] = Math.max(box[1][i], (pa.max || [1, 1, 1])[i]);
      }
      const material = (glb.json.materials || [])[prim.material] || {};
      const color = (material.pbrMetallicRoughness || {}).baseColorFactor || [0.55, 0.6, 0.85, 1];
      const buf = (data, target) => {
        const b = gl.createBuffer();
        gl.bindBuffer(target, b);
        gl.bufferData(target, data, gl.STATIC_DRAW);
        return b;
      };
      const wide = !(idx instanceof Uint16Array || idx instanceof Uint8Array);
      if (wide) gl.getExtension("OES_element_index_uint");
      meshes.push({
        pos: buf(pos, gl.ARRAY_BUFFER),
        nrm: buf(normals, gl.ARRAY_BUFFER),
        idx: buf(idx instanceof Uint8Array ? Uint16Array.from(idx) : idx, gl.ELEMENT_ARRAY_BUFFER),
        count: idx.length,
        type: wide ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT,
        color,
      });
    }
  }
  const loc = {
    position: gl.getAttribLocation(program, "position"),
    normal: gl.getAttribLocation(program, "normal"),
    mvp: gl.getUniformLocation(program, "mvp"),
    model: gl.getUniformLocation(program, "model"),
    color: gl.getUniformLocation(program, "color"),
  };
  gl.enable(gl.DEPTH_TEST);
  const still = matchMedia("(prefers-reduced-motion: reduce)").matches;
  const frame = (t) => {
    if (!canvas.isConnected) return;
    const m = matrices(still ? 0.6 : t / 2000, box);
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.uniformMatrix4fv(loc.mvp, false, new Float32Array(m.mvp));
    gl.uniformMatrix4fv(loc.model, false, new Float32Array(m.model));
    for (const mesh of meshes) {
      gl.bindBuffer(gl.ARRAY_BUFFER, mesh.pos);
      gl.enableVertexAttribArray(loc.position);
      gl.vertexAttribPointer(loc.position, 3, gl.FLOAT, false, 0, 0);
      gl.bindBuffer(gl.ARRAY_BUFFER, mesh.nrm);
      gl.enableVertexAttribArray(loc.normal);
      gl.vertexAttribPointer(loc.normal, 3, gl.FLOAT, false, 0, 0);
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, mesh.idx);
      gl.uniform4fv(loc.color, mesh.color);
      gl.drawElements(gl.TRIANGLES, mesh.count, mesh.type, 0);
    }
    if (!still) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  canvas.dataset.meshes = String(meshes.length);
}
