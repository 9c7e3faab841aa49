/** Where the initial key lives: `load` for readers, `loadOrCreate` for the server (created once). */
export interface InitialKey {
  load(): Promise<Buffer | undefined>;
  loadOrCreate(): Promise<Buffer>;
}
