NAME = 'shared'
