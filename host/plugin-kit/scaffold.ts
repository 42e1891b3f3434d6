// `sluice plugin new`: writes a plugin project that installs, passes its own
// test and passes `sluice plugin check` as generated.
export interface Scaffolded {
  dir: string;
  files: string[];
}

export function scaffold(o: { name: string; lang: 'ts'; dir: string | undefined }): Scaffolded {
  void o;
  throw new Error('not built yet');
}
