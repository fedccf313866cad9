import type { Link } from '../directory/model.js';
import type { MemberQuery, MemberRow, Store, UserHistoryItem, UserMembershipRow, UserRow } from '../store/store.js';

/** The local directory as the API reads it: the department tree, members in pages, one user with their history. */
export class DirectoryService {
  /**
   * The tree's answer as sent, with the revision it was read at. Every write to the directory bumps the revision in
   * the same transaction (apply, renameLink), so while the revision stays the same the answer does too: a console
   * opening the tree again costs one single-row read instead of 30,000 departments read and serialised.
   */
  private tree: { revision: number; json: Buffer } | undefined;

  constructor(private readonly store: Store) {}

  /** Every department as the UTF-8 JSON text `{"revision":…,"items":[…]}` (see ViewRepo.departmentListJson). */
  async departmentsJson(): Promise<Buffer> {
    if (this.tree !== undefined && (await this.store.directory.revision()) === this.tree.revision)
      return this.tree.json;
    const list = await this.store.views.departmentListJson();
    if (this.tree === undefined || list.revision >= this.tree.revision) this.tree = list;
    return list.json;
  }

  /** Direct members of a department and how many match; undefined: no such department. */
  async members(departmentId: number, query: MemberQuery): Promise<{ items: MemberRow[]; total: number } | undefined> {
    if (!(await this.store.views.departmentExists(departmentId))) return undefined;
    return this.store.views.members(departmentId, query);
  }

  /** One user with memberships, links and the newest `historyLimit` recorded changes; undefined: no such user. */
  async user(
    id: number,
    historyLimit: number,
  ): Promise<
    { user: UserRow; memberships: UserMembershipRow[]; links: Link[]; history: UserHistoryItem[] } | undefined
  > {
    const found = await this.store.views.user(id);
    if (!found) return undefined;
    return { ...found, history: await this.store.views.userHistory(id, historyLimit) };
  }
}
