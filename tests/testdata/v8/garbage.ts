// Allocates about 16 MB of objects that die young, as a busy engine does, then exits.
let batch: { i: number; s: string }[] = [];
for (let i = 0; i < 400_000; i++) {
  batch.push({ i, s: "x" });
  if (batch.length > 1000) batch = [];
}
console.log(batch.length);
