import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef, type KeyboardEvent } from 'react';
import { useI18n } from '../i18n/i18n';
import { visibleRows, type DepartmentTree as Tree, type TreeRow } from '../tree-model';

const ROW_HEIGHT = 28;

interface Props {
  tree: Tree;
  expanded: ReadonlySet<number>;
  selectedId: number | null;
  onToggle: (id: number) => void;
  onSelect: (id: number) => void;
  /** Bumped to scroll the selected department into view (after a search picked it). */
  revealKey: number;
}

/** A virtualised tree: the visible rows are recomputed from the expanded set; only those on screen are in the DOM. */
export function DepartmentTree({ tree, expanded, selectedId, onToggle, onSelect, revealKey }: Props) {
  const { formatNumber } = useI18n();
  const scrollRef = useRef<HTMLDivElement>(null);
  const rows = useMemo(() => visibleRows(tree, expanded), [tree, expanded]);
  const indexOf = useMemo(() => {
    const m = new Map<number, number>();
    rows.forEach((r, i) => {
      m.set(r.id, i);
    });
    return m;
  }, [rows]);

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    getItemKey: (i) => rows[i]?.id ?? i,
  });

  useEffect(() => {
    if (selectedId === null) return;
    const i = indexOf.get(selectedId);
    if (i !== undefined) virtualizer.scrollToIndex(i, { align: 'auto' });
    // Only when asked to reveal: expanding or collapsing must not move the list under the pointer.
  }, [revealKey]);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (selectedId === null) return;
    const i = indexOf.get(selectedId);
    if (i === undefined) return;
    const row = rows[i] as TreeRow;
    const go = (j: number) => {
      const target = rows[j];
      if (!target) return;
      onSelect(target.id);
      virtualizer.scrollToIndex(j, { align: 'auto' });
    };
    switch (e.key) {
      case 'ArrowDown':
        go(i + 1);
        break;
      case 'ArrowUp':
        go(i - 1);
        break;
      case 'ArrowRight':
        if (row.hasChildren && !row.expanded) onToggle(row.id);
        else if (row.expanded) go(i + 1);
        break;
      case 'ArrowLeft': {
        if (row.expanded) onToggle(row.id);
        else {
          const parent = tree.byId.get(row.id)?.parentId;
          const j = parent !== null && parent !== undefined ? indexOf.get(parent) : undefined;
          if (j !== undefined) go(j);
        }
        break;
      }
      case 'Home':
        go(0);
        break;
      case 'End':
        go(rows.length - 1);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  return (
    <div
      ref={scrollRef}
      className="tree-scroll"
      role="tree"
      tabIndex={0}
      onKeyDown={onKeyDown}
      data-testid="department-tree"
      data-rows={rows.length}
      aria-activedescendant={selectedId !== null ? `dept-${selectedId}` : undefined}
    >
      <div style={{ height: virtualizer.getTotalSize(), position: 'relative', width: '100%' }}>
        {virtualizer.getVirtualItems().map((item) => {
          const row = rows[item.index] as TreeRow;
          const d = tree.byId.get(row.id);
          if (!d) return null;
          const selected = row.id === selectedId;
          return (
            // biome-ignore lint/a11y/useFocusableInteractive lint/a11y/useKeyWithClickEvents: the tree is focused as a whole (aria-activedescendant) and its onKeyDown moves the selection
            <div
              key={item.key}
              id={`dept-${row.id}`}
              role="treeitem"
              aria-level={row.depth + 1}
              aria-expanded={row.hasChildren ? row.expanded : undefined}
              aria-selected={selected}
              className={`tree-row${selected ? ' selected' : ''}`}
              style={{ transform: `translateY(${item.start}px)`, height: ROW_HEIGHT, paddingLeft: 6 + row.depth * 16 }}
              onClick={() => onSelect(row.id)}
              data-testid="tree-row"
              data-id={row.id}
            >
              <span
                className={`tree-toggle${row.hasChildren ? '' : ' leaf'}`}
                onClick={(e) => {
                  e.stopPropagation();
                  if (row.hasChildren) onToggle(row.id);
                }}
                data-testid="tree-toggle"
                aria-hidden="true"
              >
                {row.hasChildren ? (row.expanded ? '▾' : '▸') : ''}
              </span>
              <span className="tree-name" title={d.name}>
                {d.name}
              </span>
              {d.memberCount !== undefined && d.memberCount > 0 && (
                <span className="tree-count">{formatNumber(d.memberCount)}</span>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}
